//! Time as the domain sees it: whole seconds since the Unix epoch, formatted as RFC 3339 at
//! the edges. Expiry is always decided by comparing against [`now`], never by trusting that
//! the database has already deleted an item.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
        Self(since.as_secs() as i64)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    /// RFC 3339 in UTC, e.g. `2026-11-21T05:09:00Z`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, (secs % 3600) / 60, secs % 60)
    }
}

impl Timestamp {
    /// A time as Meta writes one in webhooks: epoch seconds, an ISO 8601 date
    /// (`2026-12-24`), or a date and time in UTC or with an offset
    /// (`2026-12-19T13:59:20+0000`, `…Z`, `…+05:30`).
    pub fn parse_meta(text: &str) -> Option<Self> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().map(Timestamp);
        }
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        if text.get(4..5)? != "-" || text.get(7..8)? != "-" || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let date = days_from_civil(year, month as u32, day as u32) * 86_400;
        if text.len() == 10 {
            return Some(Timestamp(date));
        }
        if !matches!(text.get(10..11)?, "T" | " ") || text.get(13..14)? != ":" || text.get(16..17)? != ":" {
            return None;
        }
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let offset = match text.get(19..)? {
            "" | "Z" => 0,
            zone => {
                let sign = match zone.get(..1)? {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
                if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60)
            }
        };
        Some(Timestamp(date + hour * 3600 + minute * 60 + second - offset))
    }
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm: exact for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_795_238_940).to_rfc3339(), "2026-11-21T05:29:00Z");
    }

    #[test]
    fn reads_the_times_meta_writes() {
        assert_eq!(Timestamp::parse_meta("1795238940"), Some(Timestamp(1_795_238_940)));
        assert_eq!(Timestamp::parse_meta("2026-11-21T05:29:00Z"), Some(Timestamp(1_795_238_940)));
        assert_eq!(Timestamp::parse_meta("2026-11-21T05:29:00+0000"), Some(Timestamp(1_795_238_940)));
        assert_eq!(Timestamp::parse_meta("2026-11-21T07:29:00+02:00"), Some(Timestamp(1_795_238_940)));
        assert_eq!(Timestamp::parse_meta("2000-02-29"), Some(Timestamp(951_782_400)));
        for bad in ["", "2026-13-01", "2026-11-21T05:29", "2026-11-21T05:29:00+2", "tomorrow", "2026/11/21"] {
            assert_eq!(Timestamp::parse_meta(bad), None, "{bad}");
        }
    }
}
