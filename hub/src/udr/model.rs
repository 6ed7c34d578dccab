//! The usage data record and what is asked of the stored ones: a filter and a daily
//! aggregate. Pure data, no I/O.
//!
//! Times are kept to the microsecond (the store keeps integer microseconds since the Unix
//! epoch, UTC); [`Udr::at_storage_precision`] gives a record as it will read back.

use lorawan::ids::{DevAddr, Eui64};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::access::Access;
use crate::members::MemberId;

/// A stored record's id: assigned by the store, increasing in the order records are
/// committed (the key for paging, see [`UdrFilter::after_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UdrId(pub i64);

/// One routed transaction: who sent what to whom under which agreement, how it ended, how
/// big it was, and when it passed each hop.
///
/// Hops: `received_at` (the hub has read the request), `forwarded_at` (the hub has sent it
/// on to the receiver; none when the hub answered itself), `answered_at` (the hub has sent
/// the answer to the sender, or relayed the receiver's asynchronous answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Udr {
    /// Assigned by the store; none for a record not yet stored.
    pub id: Option<UdrId>,
    /// The request's TransactionID, when it had one.
    pub transaction_id: Option<u32>,
    /// The request's MessageType as received (`PRStartReq`, `JoinReq`, …).
    pub message_type: String,
    /// The member that sent the request.
    pub sender: MemberId,
    /// The member it was routed to; none when the hub answered itself.
    pub receiver: Option<MemberId>,
    /// The agreement (roaming or activation) that allowed it, when one did.
    pub agreement: Option<String>,
    /// The device, when the message names its DevEUI.
    #[serde(with = "hex_id")]
    pub dev_eui: Option<Eui64>,
    /// The device, when the message names its DevAddr.
    #[serde(with = "hex_id")]
    pub dev_addr: Option<DevAddr>,
    /// The answer's ResultCode (`Success`, `NoRoamingAgreement`, …).
    pub result_code: String,
    /// Size of the request body, bytes.
    pub request_bytes: u32,
    /// Size of the answer body, bytes.
    pub answer_bytes: u32,
    /// How many gateways received the uplink (GWCnt / GWInfo entries), when the message
    /// carries uplink metadata.
    pub gateway_count: Option<u32>,
    /// When the hub had read the request.
    #[serde(with = "iso8601")]
    pub received_at: OffsetDateTime,
    /// When the hub sent it on to the receiver; none when the hub answered itself.
    #[serde(with = "iso8601_option")]
    pub forwarded_at: Option<OffsetDateTime>,
    /// When the hub sent (or relayed) the answer.
    #[serde(with = "iso8601")]
    pub answered_at: OffsetDateTime,
}

impl Udr {
    /// Microseconds from receiving the request to forwarding it: the hub's own time on the
    /// way in (authentication, validation, routing, policy). None when not forwarded.
    pub fn routing_latency_us(&self) -> Option<i64> {
        self.forwarded_at
            .map(|forwarded| micros_between(self.received_at, forwarded))
    }

    /// Microseconds from forwarding the request to answering the sender: the receiver's time,
    /// the network both ways and the hub's handling of the answer. None when not forwarded.
    pub fn receiver_latency_us(&self) -> Option<i64> {
        self.forwarded_at
            .map(|forwarded| micros_between(forwarded, self.answered_at))
    }

    /// Microseconds from receiving the request to answering it: what the sender waited,
    /// minus the network to and from the hub.
    pub fn total_latency_us(&self) -> i64 {
        micros_between(self.received_at, self.answered_at)
    }

    /// The record as the store gives it back: every time truncated to the microsecond, in
    /// UTC.
    pub fn at_storage_precision(mut self) -> Self {
        self.received_at = truncate_to_micros(self.received_at);
        self.forwarded_at = self.forwarded_at.map(truncate_to_micros);
        self.answered_at = truncate_to_micros(self.answered_at);
        self
    }
}

/// Which stored records a query or an aggregation covers.
///
/// `from` and `until` bound `received_at` (from inclusive, until exclusive). Pages are in id
/// order: pass the last id of a page as `after_id` for the next. On PostgreSQL with several
/// hub instances writing, a record may commit after one with a greater id; a page of a
/// period that has ended is stable, a page of the last seconds may later gain a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdrFilter {
    /// Only records with this member as sender or as receiver.
    pub member: Option<MemberId>,
    /// Only records under this agreement.
    pub agreement: Option<String>,
    /// Received at or after.
    pub from: OffsetDateTime,
    /// Received before.
    pub until: OffsetDateTime,
    /// Only records with a greater id (the next page). Ignored by aggregations.
    pub after_id: Option<UdrId>,
    /// At most this many records. Ignored by aggregations.
    pub limit: u32,
    /// Only records the operator asking may see (sender or receiver one of its members);
    /// applied by the query itself, so pages and limits count visible records only.
    pub access: Access,
}

impl UdrFilter {
    /// Every record received in `[from, until)`, at most `limit` of them.
    pub fn period(from: OffsetDateTime, until: OffsetDateTime, limit: u32) -> Self {
        Self {
            member: None,
            agreement: None,
            from,
            until,
            after_id: None,
            limit,
            access: Access::Hub,
        }
    }

    /// Only records `access` may see.
    pub fn within(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Only records with `member` as sender or receiver.
    pub fn member(mut self, member: MemberId) -> Self {
        self.member = Some(member);
        self
    }

    /// Only records under `agreement`.
    pub fn agreement(mut self, agreement: impl Into<String>) -> Self {
        self.agreement = Some(agreement.into());
        self
    }

    /// The page after the record `id`.
    pub fn after(mut self, id: UdrId) -> Self {
        self.after_id = Some(id);
        self
    }

    /// Whether `udr` passes the filter, paging aside (what the store selects, for checks).
    pub fn matches(&self, udr: &Udr) -> bool {
        let member = self
            .member
            .as_ref()
            .is_none_or(|m| udr.sender == *m || udr.receiver.as_ref() == Some(m));
        let agreement = self
            .agreement
            .as_ref()
            .is_none_or(|a| udr.agreement.as_ref() == Some(a));
        let visible = self.access.can_see_any(
            std::iter::once(udr.sender.0.as_str())
                .chain(udr.receiver.as_ref().map(|r| r.0.as_str())),
        );
        let received = truncate_to_micros(udr.received_at);
        member && agreement && visible && received >= self.from && received < self.until
    }
}

/// The records of one UTC day with the same sender, receiver, agreement, message type and
/// result code, summed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyAggregate {
    /// The day (UTC) the requests were received (`2025-03-01` in JSON).
    #[serde(with = "iso_date")]
    pub day: Date,
    /// The sending member.
    pub sender: MemberId,
    /// The receiving member; none for the transactions the hub answered itself.
    pub receiver: Option<MemberId>,
    /// The agreement.
    pub agreement: Option<String>,
    /// The MessageType.
    pub message_type: String,
    /// The ResultCode.
    pub result_code: String,
    /// How many records.
    pub count: u64,
    /// Request bytes, summed.
    pub request_bytes: u64,
    /// Answer bytes, summed.
    pub answer_bytes: u64,
    /// Mean of [`Udr::total_latency_us`], rounded down.
    pub mean_total_latency_us: i64,
    /// Greatest [`Udr::total_latency_us`].
    pub max_total_latency_us: i64,
}

impl DailyAggregate {
    /// The grouping key: day, sender, receiver, agreement, message type, result code (the
    /// order the store returns aggregates in).
    pub fn key(&self) -> (Date, &MemberId, Option<&MemberId>, Option<&str>, &str, &str) {
        (
            self.day,
            &self.sender,
            self.receiver.as_ref(),
            self.agreement.as_deref(),
            &self.message_type,
            &self.result_code,
        )
    }
}

/// Microseconds in a day: the store's day bucket is `received_at / MICROS_PER_DAY`.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `time` as microseconds since the Unix epoch (rounded down).
pub fn to_micros(time: OffsetDateTime) -> i64 {
    // Every OffsetDateTime (years ±9999) fits: i64 microseconds span ±292,000 years.
    i64::try_from(time.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

/// The time `micros` microseconds after the Unix epoch, in UTC; none outside the years
/// `time` represents.
pub fn from_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

/// `time` truncated to the microsecond, in UTC.
pub fn truncate_to_micros(time: OffsetDateTime) -> OffsetDateTime {
    from_micros(to_micros(time)).unwrap_or(time)
}

/// The UTC day of the store's day bucket `day` (days since 1970-01-01).
pub fn day_from_epoch_days(day: i64) -> Option<Date> {
    /// The Julian day number of 1970-01-01.
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    let julian = i32::try_from(day.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// `time` in ISO 8601 / RFC 3339, UTC, to the microsecond: `2025-03-01T12:00:00.250000Z`.
/// Never fails (a year beyond 9999 is written with its digits, as ISO 8601's expanded form
/// minus the sign).
pub fn iso8601(time: OffsetDateTime) -> String {
    let utc = time.checked_to_offset(UtcOffset::UTC).unwrap_or(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.microsecond()
    )
}

fn micros_between(earlier: OffsetDateTime, later: OffsetDateTime) -> i64 {
    to_micros(later) - to_micros(earlier)
}

/// Serde for a time as [`iso8601`] text (RFC 3339 on input).
mod iso8601 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(time: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::iso8601(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

/// Serde for an optional time as [`iso8601`] text or null.
mod iso8601_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(
        time: &Option<OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.serialize_str(&super::iso8601(*time)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Serde for a date as ISO 8601 text (`2025-03-01`).
mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn serialize<S: Serializer>(day: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(day)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, format_description!("[year]-[month]-[day]"))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for an optional identifier as hex text (lower case, the canonical dialect's) or
/// null; any case on input.
mod hex_id {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(id: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.collect_str(id),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use time::macros::{date, datetime};

    /// A forwarded PRStartReq's record (the other UDR modules' tests start from it too).
    pub(in crate::udr) fn udr() -> Udr {
        Udr {
            id: None,
            transaction_id: Some(7),
            message_type: "PRStartReq".into(),
            sender: "fns".into(),
            receiver: Some("sns".into()),
            agreement: Some("a-b".into()),
            dev_eui: None,
            dev_addr: Some(DevAddr::from_u32(0x2601_1bda)),
            result_code: "Success".into(),
            request_bytes: 300,
            answer_bytes: 200,
            gateway_count: Some(2),
            received_at: datetime!(2025-03-01 12:00:00.000_100 UTC),
            forwarded_at: Some(datetime!(2025-03-01 12:00:00.000_350 UTC)),
            answered_at: datetime!(2025-03-01 12:00:00.020_350 UTC),
        }
    }

    #[test]
    fn latencies_per_hop() {
        let udr = udr();
        assert_eq!(udr.routing_latency_us(), Some(250));
        assert_eq!(udr.receiver_latency_us(), Some(20_000));
        assert_eq!(udr.total_latency_us(), 20_250);
        let own = Udr {
            forwarded_at: None,
            ..udr
        };
        assert_eq!(own.routing_latency_us(), None);
        assert_eq!(own.receiver_latency_us(), None);
    }

    #[test]
    fn micros_round_trip_and_truncate() {
        let t = datetime!(2025-03-01 12:00:00.123_456_789 +02:00);
        let micros = to_micros(t);
        assert_eq!(micros % 1_000_000, 123_456);
        assert_eq!(
            from_micros(micros),
            Some(datetime!(2025-03-01 10:00:00.123_456 UTC))
        );
        assert_eq!(to_micros(datetime!(1969-12-31 23:59:59.999_999_5 UTC)), -1);
        assert_eq!(from_micros(i64::MAX), None);
    }

    #[test]
    fn days_from_the_epoch() {
        assert_eq!(day_from_epoch_days(0), Some(date!(1970 - 01 - 01)));
        let t = datetime!(2025-03-01 23:59:59.999_999 UTC);
        assert_eq!(
            day_from_epoch_days(to_micros(t) / MICROS_PER_DAY),
            Some(date!(2025 - 03 - 01))
        );
        assert_eq!(day_from_epoch_days(i64::MAX), None);
    }

    #[test]
    fn iso8601_is_utc_to_the_microsecond() {
        assert_eq!(
            iso8601(datetime!(2025-03-01 12:00:00.25 +01:00)),
            "2025-03-01T11:00:00.250000Z"
        );
    }

    #[test]
    fn filters_match_sender_or_receiver() {
        let udr = udr();
        let day = UdrFilter::period(
            datetime!(2025-03-01 0:00 UTC),
            datetime!(2025-03-02 0:00 UTC),
            10,
        );
        assert!(day.matches(&udr));
        assert!(day.clone().member("sns".into()).matches(&udr));
        assert!(day.clone().member("fns".into()).matches(&udr));
        assert!(!day.clone().member("other".into()).matches(&udr));
        assert!(day.clone().agreement("a-b").matches(&udr));
        assert!(!day.clone().agreement("c-d").matches(&udr));
        let until_received = UdrFilter::period(day.from, udr.received_at, 10);
        assert!(!until_received.matches(&udr));
    }
}
