//! The time formats packet forwarders write.
//!
//! `rxpk.time` is ISO 8601 "compact", `2013-03-31T16:21:17.528002Z` (PROTOCOL.TXT: "UTC time
//! of pkt RX, us precision"); forwarders also write it without a fraction, with nanoseconds,
//! or with a `+00:00` offset. `stat.time` is the "expanded" `2014-01-12 08:59:28 GMT`. One
//! parser takes all of them: a date, `T` or a space, a time, an optional fraction of up to 9
//! digits, then `Z`, ` GMT`, ` UTC` or a `±hh:mm` offset.

use std::time::{Duration, SystemTime};

/// Parses a forwarder time (see the module documentation); `None` if it is none of them.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let b = text.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    // 60: a leap second, which some GPS-disciplined forwarders do write.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = digits(&fraction[..len])? * 10u32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    let offset_s: i64 = match rest {
        b"Z" | b"z" | b" GMT" | b" UTC" | b"" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_s;
    let since_epoch = Duration::new(seconds.unsigned_abs(), 0);
    let whole = if seconds >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(since_epoch)?
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(since_epoch)?
    };
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn the_protocol_examples() {
        // `date -u -d 2013-03-31T16:21:17Z +%s` = 1364746877
        assert_eq!(
            parse_time("2013-03-31T16:21:17.528002Z"),
            Some(at(1_364_746_877, 528_002_000))
        );
        // `date -u -d '2014-01-12 08:59:28' +%s` = 1389517168
        assert_eq!(
            parse_time("2014-01-12 08:59:28 GMT"),
            Some(at(1_389_517_168, 0))
        );
    }

    #[test]
    fn the_variants_forwarders_write() {
        let t = at(1_364_746_877, 0);
        assert_eq!(parse_time("2013-03-31T16:21:17Z"), Some(t));
        assert_eq!(parse_time("2013-03-31T16:21:17+00:00"), Some(t));
        assert_eq!(parse_time("2013-03-31T18:21:17+02:00"), Some(t));
        assert_eq!(parse_time("2013-03-31 16:21:17 UTC"), Some(t));
        assert_eq!(
            parse_time("2013-03-31T16:21:17.528002123Z"),
            Some(at(1_364_746_877, 528_002_123))
        );
        assert_eq!(
            parse_time("2013-03-31T16:21:17.5Z"),
            Some(at(1_364_746_877, 500_000_000))
        );
        // 2024-02-29 is a leap day: 1709164800.
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z"),
            Some(at(1_709_164_800, 0))
        );
        assert_eq!(
            parse_time("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "2013-03-31",
            "2013-02-29T00:00:00Z",
            "2013-13-01T00:00:00Z",
            "2013-03-31T24:00:00Z",
            "2013-03-31T16:21:17.Z",
            "2013-03-31T16:21:17.1234567890Z",
            "2013-03-31T16:21:17 CET",
            "2013-03-31X16:21:17Z",
            "20a3-03-31T16:21:17Z",
            "2013-03-31T16:21:17+0200",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }
}
