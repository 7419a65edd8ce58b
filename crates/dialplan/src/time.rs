//! Wall-clock time for dialplans: business-hours windows (`Mon-Fri 09:00-17:00`) and the civil date of a
//! `SystemTime` in the dialplan's clock: an IANA time zone (jiff and the tz database, so daylight saving
//! time moves business hours with the wall clock) or a fixed UTC offset.

use std::time::{SystemTime, UNIX_EPOCH};

/// The dialplan's clock for `time` conditions and the `date`/`time`/`timestamp` variables.
#[derive(Clone, Debug, PartialEq)]
pub enum Clock {
    /// A fixed offset from UTC, in minutes (`utc_offset`).
    Offset(i32),
    /// An IANA time zone (`timezone: Europe/Paris`), its offset looked up for each instant.
    Zone(jiff::tz::TimeZone),
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::Offset(0)
    }
}

impl Clock {
    /// The IANA zone `name`, or why not.
    pub fn zone(name: &str) -> Result<Clock, String> {
        jiff::tz::TimeZone::get(name.trim())
            .map(Clock::Zone)
            .map_err(|_| {
                format!(
                    "unknown time zone '{name}' (an IANA name such as Europe/Paris, America/New_York or UTC)"
                )
            })
    }

    /// The offset from UTC in minutes at `t`.
    pub fn offset_minutes(&self, t: SystemTime) -> i32 {
        match self {
            Clock::Offset(m) => *m,
            Clock::Zone(tz) => jiff::Timestamp::try_from(t)
                .map(|ts| tz.to_offset(ts).seconds() / 60)
                .unwrap_or(0),
        }
    }

    /// The civil time of `t` on this clock.
    pub fn local(&self, t: SystemTime) -> LocalTime {
        LocalTime::at(t, self.offset_minutes(t))
    }
}

/// A civil date and time (in whatever offset it was computed for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Day of the week, 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Millisecond, 0-999.
    pub millis: u32,
}

impl LocalTime {
    /// The civil time of `t` at `offset_minutes` from UTC (times before 1970 count as 1970-01-01).
    pub fn at(t: SystemTime, offset_minutes: i32) -> LocalTime {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ms = since.as_millis() as i64 + i64::from(offset_minutes) * 60_000;
        let days = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        LocalTime {
            year,
            month,
            day,
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            weekday: (days + 3).rem_euclid(7) as u32,
            hour: (in_day / 3_600_000) as u32,
            minute: (in_day / 60_000 % 60) as u32,
            second: (in_day / 1000 % 60) as u32,
            millis: (in_day % 1000) as u32,
        }
    }

    /// `2026-12-02T06:15:00.123Z` style (RFC 3339), with the given offset's suffix.
    pub fn rfc3339(&self, offset_minutes: i32) -> String {
        let zone = if offset_minutes == 0 {
            "Z".to_string()
        } else {
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let m = offset_minutes.unsigned_abs();
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{zone}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20261202T061500123`: sorts by time, safe in file names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Weekly time windows: `Mon-Fri 09:00-17:00`, `Sat 10:00-13:00`, `22:00-06:00`, `Sun`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWindows(Vec<Window>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Window {
    /// Bit d set: weekday d (0 = Monday).
    days: u8,
    /// Minutes of the day, start inclusive, end exclusive; `start > end` wraps past midnight.
    start: u32,
    end: u32,
}

impl TimeWindows {
    /// Parses each string as `[days] [HH:MM-HH:MM]` (at least one of the two). Days: `Mon`, `Mon-Fri`,
    /// `Mon,Wed,Fri`, `Fri-Mon`. A window whose end is before its start runs past midnight and belongs to the
    /// day it starts on.
    pub fn parse(specs: &[String]) -> Result<TimeWindows, String> {
        let mut out = Vec::new();
        for spec in specs {
            let mut days = 0u8;
            let mut range = None;
            for word in spec.split_whitespace() {
                if word.contains(':') {
                    if range.is_some() {
                        return Err(format!("time '{spec}': more than one time range"));
                    }
                    range = Some(parse_range(word).map_err(|m| format!("time '{spec}': {m}"))?);
                } else {
                    days |= parse_days(word).map_err(|m| format!("time '{spec}': {m}"))?;
                }
            }
            if days == 0 && range.is_none() {
                return Err(format!(
                    "time '{spec}' is empty (write e.g. \"Mon-Fri 09:00-17:00\")"
                ));
            }
            let (start, end) = range.unwrap_or((0, 24 * 60));
            out.push(Window {
                days: if days == 0 { 0x7f } else { days },
                start,
                end,
            });
        }
        if out.is_empty() {
            return Err("time needs at least one window".into());
        }
        Ok(TimeWindows(out))
    }

    /// Whether `t` falls in one of the windows.
    pub fn contains(&self, t: &LocalTime) -> bool {
        let m = t.hour * 60 + t.minute;
        let today = 1u8 << t.weekday;
        let yesterday = 1u8 << ((t.weekday + 6) % 7);
        self.0.iter().any(|w| {
            if w.start <= w.end {
                w.days & today != 0 && (w.start..w.end).contains(&m)
            } else {
                (w.days & today != 0 && m >= w.start) || (w.days & yesterday != 0 && m < w.end)
            }
        })
    }
}

fn parse_days(word: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for part in word.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (day_index(a)?, day_index(b)?);
        let mut d = a;
        loop {
            bits |= 1 << d;
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(bits)
}

fn day_index(s: &str) -> Result<usize, String> {
    let l = s.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| l.len() >= 3 && d.starts_with(&l[..3]) && is_day_name(&l))
        .ok_or_else(|| format!("unknown day '{s}' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

fn is_day_name(l: &str) -> bool {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    FULL.iter().any(|f| f.starts_with(l))
}

fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("'{s}' is not a range like 09:00-17:00"))?;
    let start = parse_hhmm(a)?;
    let end = parse_hhmm(b)?;
    if start == 24 * 60 || start == end {
        return Err(format!("'{s}' is an empty range"));
    }
    Ok((start, end))
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("'{s}' is not a time like 09:30");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `UTC`, `+01:00`, `-05:00`, `UTC+2`, `+0530` into minutes east of UTC.
pub fn parse_utc_offset(s: &str) -> Result<i32, String> {
    let bad = || format!("utc_offset '{s}' is not an offset like +01:00, -05:00 or UTC");
    let t = s.trim();
    let t = t.strip_prefix("UTC").unwrap_or(t);
    if t.is_empty() {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes()[0] {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_time_zone_follows_daylight_saving_time() {
        let paris = Clock::zone("Europe/Paris").unwrap();
        // 2026-03-29 00:30 UTC is 01:30 CET; at 01:00 UTC Paris springs forward, so 01:30 UTC is 03:30 CEST.
        let before = UNIX_EPOCH + Duration::from_secs(1_774_744_200);
        let after = before + Duration::from_secs(3600);
        assert_eq!(paris.offset_minutes(before), 60);
        assert_eq!(
            (paris.local(before).hour, paris.local(before).minute),
            (1, 30)
        );
        assert_eq!(paris.offset_minutes(after), 120);
        assert_eq!(
            (paris.local(after).hour, paris.local(after).minute),
            (3, 30)
        );
        // Office hours in summer: 07:30 UTC on Wednesday 2026-07-01 is 09:30 in Paris (open), 08:30 at a
        // fixed +01:00 (closed).
        let summer = UNIX_EPOCH + Duration::from_secs(1_782_891_000);
        let hours = TimeWindows::parse(&["Mon-Fri 09:00-17:00".to_string()]).unwrap();
        assert!(hours.contains(&paris.local(summer)));
        assert!(!hours.contains(&Clock::Offset(60).local(summer)));
        let ny = Clock::zone("America/New_York").unwrap();
        assert_eq!(ny.offset_minutes(summer), -240);
        assert!(Clock::zone("Europe/Pariss")
            .unwrap_err()
            .contains("unknown time zone"));
        assert_eq!(Clock::zone("UTC").unwrap().offset_minutes(summer), 0);
    }

    fn t(secs: u64) -> LocalTime {
        LocalTime::at(UNIX_EPOCH + Duration::from_secs(secs), 0)
    }

    #[test]
    fn civil_dates() {
        let e = t(0);
        assert_eq!((e.year, e.month, e.day, e.weekday), (1970, 1, 1, 3));
        // 2026-12-02 06:15:00 UTC is a Wednesday.
        let x = t(1_796_192_100);
        assert_eq!(
            (x.year, x.month, x.day, x.weekday, x.hour, x.minute),
            (2026, 12, 2, 2, 6, 15)
        );
        assert_eq!(x.rfc3339(0), "2026-12-02T06:15:00.000Z");
        assert_eq!(x.compact(), "20261202T061500000");
        let leap = t(951_782_400); // 2000-02-29
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        let shifted = LocalTime::at(UNIX_EPOCH + Duration::from_secs(1_796_192_100), -7 * 60);
        assert_eq!((shifted.day, shifted.hour, shifted.weekday), (1, 23, 1));
    }

    #[test]
    fn windows() {
        let w =
            TimeWindows::parse(&["Mon-Fri 09:00-17:00".into(), "Sat 10:00-13:00".into()]).unwrap();
        let at = |weekday, hour, minute| LocalTime {
            year: 2026,
            month: 1,
            day: 1,
            weekday,
            hour,
            minute,
            second: 0,
            millis: 0,
        };
        assert!(w.contains(&at(0, 9, 0)));
        assert!(w.contains(&at(4, 16, 59)));
        assert!(!w.contains(&at(4, 17, 0)), "end is exclusive");
        assert!(!w.contains(&at(0, 8, 59)));
        assert!(w.contains(&at(5, 12, 0)));
        assert!(!w.contains(&at(6, 12, 0)));
        let night = TimeWindows::parse(&["Fri 22:00-06:00".into()]).unwrap();
        assert!(night.contains(&at(4, 23, 0)));
        assert!(
            night.contains(&at(5, 5, 59)),
            "past midnight belongs to Friday"
        );
        assert!(!night.contains(&at(4, 5, 0)));
        let wrap = TimeWindows::parse(&["Sat-Sun".into()]).unwrap();
        assert!(wrap.contains(&at(6, 0, 0)) && !wrap.contains(&at(0, 12, 0)));
        let wrap = TimeWindows::parse(&["Fri-Mon".into()]).unwrap();
        assert!(wrap.contains(&at(0, 1, 0)) && !wrap.contains(&at(1, 12, 0)));
        for bad in [
            "Mon-Fry 09:00-17:00",
            "Mon 9-17",
            "Mon 25:00-26:00",
            "",
            "Mon 09:00-09:00",
        ] {
            assert!(TimeWindows::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert_eq!(parse_utc_offset("+01:00"), Ok(60));
        assert_eq!(parse_utc_offset("-05:30"), Ok(-330));
        assert_eq!(parse_utc_offset("UTC+2"), Ok(120));
        assert_eq!(parse_utc_offset("+0530"), Ok(330));
        assert!(parse_utc_offset("CET").is_err());
        assert!(parse_utc_offset("+99").is_err());
    }
}
