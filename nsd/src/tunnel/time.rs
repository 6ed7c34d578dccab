//! ISO 8601 timestamps as the tunnel writes them (seed 001 §5.1):
//!
//! > All ISO 8601 timestamps parameters described in this section are mandatory and use the
//! > following convention: `YYYY-MM-DDThh:mm:ss.s+|-hh:mm` […] s: one to three-digit
//! > milliseconds (0 through 999) […] time zone designator (+hh:mm or -hh:mm)
//!
//! We write exactly that, with three millisecond digits and the UTC offset `+00:00`. We read
//! it leniently, as deployed application servers write it: the fraction may be absent or have
//! up to nine digits, and `Z` stands for `+00:00`. Anything else is malformed (v1 350
//! "Security Check. malformed ISO8601 time", v2 109).
//!
//! §5.1.2: with security activated the timestamp is written raw in the SHA-256 input and with
//! `+` → `%2B`, `:` → `%3A` in the URL ([`url_encode`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A timestamp that does not follow §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed ISO 8601 time")]
pub struct MalformedTime;

/// Reads a §5.1 timestamp.
pub fn parse(text: &str) -> Result<SystemTime, MalformedTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(MalformedTime);
    }
    if b[16] != b':' {
        return Err(MalformedTime);
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(MalformedTime);
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let n = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(MalformedTime);
        }
        nanos = digits(&after_dot[..n])? * 10u64.pow(9 - n as u32);
        rest = &after_dot[n..];
    }
    let offset_s: i64 = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return Err(MalformedTime);
            }
            let magnitude = (hours * 3600 + minutes * 60) as i64;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err(MalformedTime),
    };
    let days = days_from_civil(year as i64, month, day);
    let local = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    let unix = local - offset_s;
    let since_epoch = u64::try_from(unix).map_err(|_| MalformedTime)?;
    Ok(UNIX_EPOCH + Duration::from_secs(since_epoch) + Duration::from_nanos(nanos))
}

/// Writes `time` as `YYYY-MM-DDThh:mm:ss.mmm+00:00` (UTC, three millisecond digits).
pub fn format(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The URL form of a timestamp (§5.1.2): `+` → `%2B`, `:` → `%3A`.
pub fn url_encode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// Whether `time` is within `max` of `now`, either way (the AS profile's maximum time
/// deviation, v1 "Security Check. Invalid downlink frame timestamp", v2 110).
pub fn within_deviation(time: SystemTime, now: SystemTime, max: Duration) -> bool {
    let deviation = match now.duration_since(time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    deviation <= max
}

fn digits(b: &[u8]) -> Result<u64, MalformedTime> {
    b.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u64::from(c - b'0'))
        } else {
            Err(MalformedTime)
        }
    })
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_ms(t: SystemTime) -> u128 {
        t.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis()
    }

    #[test]
    fn the_seeds_examples_parse_to_the_right_instant() {
        // 2016-01-11T14:28:00.333+02:00 = 12:28:00.333 UTC = 1452515280.333
        let t = parse("2016-01-11T14:28:00.333+02:00").expect("§7.3.2 example");
        assert_eq!(unix_ms(t), 1_452_515_280_333);
        // §5.1.1 examples: one fraction digit, positive and negative offsets.
        let a = parse("2016-08-01T09:06:06.0+02:00").expect("example 1");
        assert_eq!(unix_ms(a), 1_470_035_166_000);
        let b = parse("2016-11-28T09:06:06.0-04:00").expect("example 2");
        assert_eq!(unix_ms(b), 1_480_338_366_000);
        // Two fraction digits, as in the uplink sample's Time.
        let c = parse("2015-07-09T16:06:38.49+02:00").expect("sample");
        assert_eq!(unix_ms(c) % 1000, 490);
    }

    #[test]
    fn lenient_forms_deployed_servers_write() {
        let z = parse("2016-01-11T12:28:00Z").expect("Z, no fraction");
        assert_eq!(unix_ms(z), 1_452_515_280_000);
        let nanos = parse("2016-01-11T12:28:00.123456789+00:00").expect("nine digits");
        assert_eq!(unix_ms(nanos), 1_452_515_280_123);
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2016-01-11 14:28:00.333+02:00",
            "2016-01-11T14:28:00.333",
            "2016-01-11T14:28:00.333+0200",
            "2016-13-11T14:28:00.333+02:00",
            "2016-02-30T14:28:00.333+02:00",
            "2016-01-11T24:28:00.333+02:00",
            "2016-01-11T14:28:00.+02:00",
            "2016-01-11T14:28:00.1234567890+02:00",
            "2016-01-11T14:28:00.333+02:00 ",
            "２016-01-11T14:28:00.333+02:00",
        ] {
            assert_eq!(parse(bad), Err(MalformedTime), "{bad:?}");
        }
    }

    #[test]
    fn format_writes_utc_with_milliseconds_and_round_trips() {
        let t = UNIX_EPOCH + Duration::from_millis(1_452_515_280_333);
        assert_eq!(format(t), "2016-01-11T12:28:00.333+00:00");
        assert_eq!(parse(&format(t)), Ok(t));
        let leap = parse("2024-02-29T23:59:59.999-00:30").expect("leap day");
        assert_eq!(format(leap), "2024-03-01T00:29:59.999+00:00");
    }

    #[test]
    fn url_encoding_is_the_seeds() {
        // §5.1.2 table.
        assert_eq!(
            url_encode("2016-08-01T09:06:06.0+02:00"),
            "2016-08-01T09%3A06%3A06.0%2B02%3A00"
        );
        assert_eq!(
            url_encode("2016-11-28T09:06:06.0-04:00"),
            "2016-11-28T09%3A06%3A06.0-04%3A00"
        );
    }

    #[test]
    fn deviation_is_checked_both_ways() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let max = Duration::from_secs(30);
        assert!(within_deviation(now - Duration::from_secs(30), now, max));
        assert!(within_deviation(now + Duration::from_secs(30), now, max));
        assert!(!within_deviation(now - Duration::from_secs(31), now, max));
        assert!(!within_deviation(now + Duration::from_secs(31), now, max));
    }
}
