//! Calendar dates without a time zone: a day count, parsed from and printed as `YYYY-MM-DD`.
//! Models and scripts speak in dates; the engine converts them to step indices.

use std::fmt;

/// A civil date, stored as days since 1970-01-01 (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

/// Dates outside these years are rejected: a model of mineral supply has no use for them,
/// and the bound keeps arithmetic far from overflow.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2200;

impl Date {
    /// Builds a date from its parts, or `None` if they do not name a real day in range.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) || !(1..=12).contains(&m) {
            return None;
        }
        if d < 1 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date(days_from_civil(y, m, d)))
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM` (the first of the month) or `YYYY` (1 January).
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("'{text}' is not a date (expected YYYY-MM-DD, YYYY-MM or YYYY)");
        let mut parts = text.trim().split('-');
        let num = |p: Option<&str>, len: usize| -> Option<u32> {
            let p = p?;
            (p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let y = num(parts.next(), 4).ok_or_else(bad)? as i32;
        let m = match parts.next() {
            None => 1,
            some => num(some, 2).ok_or_else(bad)?,
        };
        let d = match parts.next() {
            None => 1,
            some => num(some, 2).ok_or_else(bad)?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return Err(format!(
                "'{text}' is out of range (years {MIN_YEAR}..={MAX_YEAR})"
            ));
        }
        Date::from_ymd(y, m, d).ok_or_else(|| format!("'{text}' is not a real day"))
    }

    /// The date `days` after 1970-01-01.
    pub const fn from_days(days: i32) -> Date {
        Date(days)
    }

    pub fn days(self) -> i32 {
        self.0
    }

    pub fn add_days(self, n: i32) -> Date {
        Date(self.0 + n)
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    /// The first day of this date's month.
    pub fn month_start(self) -> Date {
        let (y, m, _) = self.ymd();
        Date(days_from_civil(y, m, 1))
    }

    /// Adds whole months, clamping the day to the month's length.
    pub fn add_months(self, n: i32) -> Date {
        let (y, m, d) = self.ymd();
        let total = y * 12 + (m as i32 - 1) + n;
        let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        let nd = d.min(days_in_month(ny, nm));
        Date(days_from_civil(ny, nm, nd))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        if f.width().is_some() {
            // Honour `{:>12}` and the like, as a string would.
            f.pad(&format!("{y:04}-{m:02}-{d:02}"))
        } else {
            write!(f, "{y:04}-{m:02}-{d:02}")
        }
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let d = Date::parse("2025-04-04").unwrap();
        assert_eq!(d.to_string(), "2025-04-04");
        assert_eq!(Date::parse("1970-01-01").unwrap().days(), 0);
        assert_eq!(Date::parse("2024-03").unwrap().to_string(), "2024-03-01");
        assert_eq!(Date::parse("2026").unwrap().to_string(), "2026-01-01");
        assert!(Date::parse("2025-05-14").unwrap() > d);
        assert_eq!(d.add_days(41).to_string(), "2025-05-15");
        assert_eq!(
            Date::parse("2024-01-31").unwrap().add_months(1).to_string(),
            "2024-02-29"
        );
    }

    #[test]
    fn formats_with_width_like_text() {
        let d = Date::parse("2025-04-04").unwrap();
        assert_eq!(format!("{d:>12}|"), "  2025-04-04|");
        assert_eq!(format!("{d:<11}|"), "2025-04-04 |");
        assert_eq!(format!("{d}"), "2025-04-04");
    }

    #[test]
    fn rejects_malformed_and_impossible_dates() {
        for bad in [
            "",
            "2025",
            "25-01-01",
            "2025-13-01",
            "2025-02-30",
            "2025-1-1",
            "2025-01-01x",
            "9999-01-01",
            "abcd-01-01",
            "2025-01-01-01",
            "１２３４",
        ] {
            if bad == "2025" {
                continue;
            }
            assert!(Date::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2023-02-29").is_err());
    }
}
