//! Exporting records and aggregates: CSV (RFC 4180) and JSON. Pure.
//!
//! **CSV.** A header row, then one row per record, lines ending in CRLF. A field holding a
//! comma, a double quote, CR or LF is quoted, its quotes doubled; an absent value is an
//! empty field. Times are ISO 8601 in UTC to the microsecond (`2025-03-01T12:00:00.250000Z`),
//! DevEUI and DevAddr lower-case hex. Record columns, in order ([`UDR_COLUMNS`]):
//!
//! | column | value |
//! |---|---|
//! | `id` | the store's id |
//! | `received_at`, `forwarded_at`, `answered_at` | the hop times |
//! | `transaction_id` | the TransactionID |
//! | `message_type` | the MessageType |
//! | `sender`, `receiver` | member ids (no receiver: the hub answered) |
//! | `agreement` | the agreement |
//! | `dev_eui`, `dev_addr` | the device |
//! | `result_code` | the ResultCode |
//! | `request_bytes`, `answer_bytes` | body sizes |
//! | `gateway_count` | receiving gateways |
//! | `routing_latency_us`, `receiver_latency_us`, `total_latency_us` | per-hop latencies, derived ([`Udr::routing_latency_us`], …) |
//!
//! Aggregate columns ([`AGGREGATE_COLUMNS`]): `day` (`2025-03-01`), `sender`, `receiver`,
//! `agreement`, `message_type`, `result_code`, `count`, `request_bytes`, `answer_bytes`,
//! `mean_total_latency_us`, `max_total_latency_us`.
//!
//! **JSON.** An array of the records as [`Udr`] serializes them: the field names above
//! (without the derived latencies), times as ISO 8601 text, ids as hex text, absent values
//! `null`.
//!
//! For a large period, write [`UDR_COLUMNS`] once and [`write_udr_row`] per record as pages
//! come from the store, instead of collecting everything first.

use std::fmt::Display;

use super::model::{iso8601, DailyAggregate, Udr};

/// The CSV header of records.
pub const UDR_COLUMNS: [&str; 18] = [
    "id",
    "received_at",
    "forwarded_at",
    "answered_at",
    "transaction_id",
    "message_type",
    "sender",
    "receiver",
    "agreement",
    "dev_eui",
    "dev_addr",
    "result_code",
    "request_bytes",
    "answer_bytes",
    "gateway_count",
    "routing_latency_us",
    "receiver_latency_us",
    "total_latency_us",
];

/// The CSV header of daily aggregates.
pub const AGGREGATE_COLUMNS: [&str; 11] = [
    "day",
    "sender",
    "receiver",
    "agreement",
    "message_type",
    "result_code",
    "count",
    "request_bytes",
    "answer_bytes",
    "mean_total_latency_us",
    "max_total_latency_us",
];

/// `udrs` as CSV, header first.
pub fn to_csv(udrs: &[Udr]) -> String {
    let mut out = String::with_capacity(128 * (udrs.len() + 1));
    write_header(&mut out, &UDR_COLUMNS);
    for udr in udrs {
        write_udr_row(&mut out, udr);
    }
    out
}

/// `aggregates` as CSV, header first.
pub fn aggregates_to_csv(aggregates: &[DailyAggregate]) -> String {
    let mut out = String::with_capacity(96 * (aggregates.len() + 1));
    write_header(&mut out, &AGGREGATE_COLUMNS);
    for aggregate in aggregates {
        write_aggregate_row(&mut out, aggregate);
    }
    out
}

/// Appends a header row of `columns` to `out`.
pub fn write_header(out: &mut String, columns: &[&str]) {
    let mut row = Row::new(out);
    for column in columns {
        row.field(column);
    }
    row.end();
}

/// Appends one record's row to `out`, columns as [`UDR_COLUMNS`].
pub fn write_udr_row(out: &mut String, udr: &Udr) {
    let mut row = Row::new(out);
    row.optional(udr.id.map(|id| id.0));
    row.field(&iso8601(udr.received_at));
    row.optional(udr.forwarded_at.map(iso8601));
    row.field(&iso8601(udr.answered_at));
    row.optional(udr.transaction_id);
    row.field(&udr.message_type);
    row.field(&udr.sender);
    row.optional(udr.receiver.as_ref());
    row.optional(udr.agreement.as_ref());
    row.optional(udr.dev_eui);
    row.optional(udr.dev_addr);
    row.field(&udr.result_code);
    row.field(&udr.request_bytes);
    row.field(&udr.answer_bytes);
    row.optional(udr.gateway_count);
    row.optional(udr.routing_latency_us());
    row.optional(udr.receiver_latency_us());
    row.field(&udr.total_latency_us());
    row.end();
}

/// Appends one aggregate's row to `out`, columns as [`AGGREGATE_COLUMNS`].
pub fn write_aggregate_row(out: &mut String, aggregate: &DailyAggregate) {
    let mut row = Row::new(out);
    row.field(&aggregate.day);
    row.field(&aggregate.sender);
    row.optional(aggregate.receiver.as_ref());
    row.optional(aggregate.agreement.as_ref());
    row.field(&aggregate.message_type);
    row.field(&aggregate.result_code);
    row.field(&aggregate.count);
    row.field(&aggregate.request_bytes);
    row.field(&aggregate.answer_bytes);
    row.field(&aggregate.mean_total_latency_us);
    row.field(&aggregate.max_total_latency_us);
    row.end();
}

/// `udrs` as a JSON array.
pub fn to_json(udrs: &[Udr]) -> serde_json::Result<String> {
    serde_json::to_string(udrs)
}

/// `aggregates` as a JSON array (`day` as `2025-03-01`).
pub fn aggregates_to_json(aggregates: &[DailyAggregate]) -> serde_json::Result<String> {
    serde_json::to_string(aggregates)
}

/// One CSV row being written.
struct Row<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Row<'a> {
    fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn field(&mut self, value: &dyn Display) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let text = value.to_string();
        // RFC 4180 §2.6–2.7: fields with a comma, a quote or a line break are enclosed in
        // double quotes, and a quote inside is escaped by another.
        if text.contains([',', '"', '\r', '\n']) {
            self.out.push('"');
            self.out.push_str(&text.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(&text);
        }
    }

    fn optional<T: Display>(&mut self, value: Option<T>) {
        match value {
            Some(value) => self.field(&value),
            None => self.field(&""),
        }
    }

    /// RFC 4180 §2.1: each record ends in CRLF.
    fn end(self) {
        self.out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udr::UdrId;
    use lorawan::ids::Eui64;
    use time::macros::{date, datetime};

    fn udr() -> Udr {
        Udr {
            id: Some(UdrId(3)),
            transaction_id: Some(42),
            message_type: "JoinReq".into(),
            sender: "ns-a".into(),
            receiver: Some("js-b".into()),
            agreement: Some("join, \"EU\"".into()),
            dev_eui: Some(Eui64::from_u64(0x0004_A30B_001C_0530)),
            dev_addr: None,
            result_code: "Success".into(),
            request_bytes: 250,
            answer_bytes: 400,
            gateway_count: None,
            received_at: datetime!(2025-03-01 12:00:00 UTC),
            forwarded_at: Some(datetime!(2025-03-01 12:00:00.000_200 UTC)),
            answered_at: datetime!(2025-03-01 12:00:00.015 UTC),
        }
    }

    #[test]
    fn csv_rows_quote_what_needs_quoting() {
        let csv = to_csv(&[udr()]);
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some(UDR_COLUMNS.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some(
                "3,2025-03-01T12:00:00.000000Z,2025-03-01T12:00:00.000200Z,\
                 2025-03-01T12:00:00.015000Z,42,JoinReq,ns-a,js-b,\"join, \"\"EU\"\"\",\
                 0004a30b001c0530,,Success,250,400,,200,14800,15000"
            )
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn json_round_trips() {
        let udrs = vec![udr()];
        let json = to_json(&udrs).expect("serializes");
        assert!(json.contains(r#""received_at":"2025-03-01T12:00:00.000000Z""#));
        assert!(json.contains(r#""dev_eui":"0004a30b001c0530""#));
        assert!(json.contains(r#""dev_addr":null"#));
        let back: Vec<Udr> = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, udrs);
    }

    #[test]
    fn aggregates_export() {
        let aggregate = DailyAggregate {
            day: date!(2025 - 03 - 01),
            sender: "ns-a".into(),
            receiver: None,
            agreement: None,
            message_type: "PRStartReq".into(),
            result_code: "NoRoamingAgreement".into(),
            count: 2,
            request_bytes: 500,
            answer_bytes: 300,
            mean_total_latency_us: 120,
            max_total_latency_us: 150,
        };
        let csv = aggregates_to_csv(std::slice::from_ref(&aggregate));
        assert!(csv.ends_with(
            "\r\n2025-03-01,ns-a,,,PRStartReq,NoRoamingAgreement,2,500,300,120,150\r\n"
        ));
        let json = aggregates_to_json(std::slice::from_ref(&aggregate)).expect("serializes");
        assert!(json.contains(r#""day":"2025-03-01""#), "{json}");
        let back: Vec<DailyAggregate> = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, [aggregate]);
    }
}
