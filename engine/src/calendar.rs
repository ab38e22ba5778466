//! Business-hours clocks: a [`BusinessCalendar`] (working windows per weekday
//! in an IANA time zone, plus holidays) and its checked form,
//! [`CheckedCalendar`], which counts working time between instants.
//!
//! "Expires after 8 business hours", submitted on Friday at 16:00 in an office
//! that works 09:00–17:00, falls due on Monday at 16:00: one hour on Friday,
//! seven on Monday.
//!
//! Pure like the rest of the crate: every instant is an input, nothing reads a
//! clock.
//!
//! # Wall-clock windows and daylight saving time
//!
//! A window is written in local wall-clock time. On each date it becomes one
//! interval of real (UTC) time, from the instant its start is shown on the
//! wall clock to the instant its end is:
//!
//! - a wall-clock time that does not exist (skipped by a spring-forward
//!   change) means the first instant after the gap: a window 00:00–06:00 on the
//!   day Berlin jumps from 02:00 to 03:00 runs from 00:00 CET to 06:00 CEST,
//!   five real hours; a window starting at 02:30 that day starts at 03:00 CEST;
//! - a wall-clock time that occurs twice (a fall-back change) means its first
//!   occurrence: a window 00:00–06:00 on the day Berlin goes back from 03:00 to
//!   02:00 is seven real hours, and a window ending at 02:30 that day ends at
//!   02:30 CEST, before the clocks go back;
//! - a window 09:00–17:00 on a change day is still eight real hours, since the
//!   change happens outside it.
//!
//! Windows are half-open: a window 09:00–17:00 contains 09:00 and not 17:00.
//! `24:00` as an end means the next day's 00:00, so a window ending at 24:00
//! and the next day's window starting at 00:00 form one stretch of work.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// The keys of [`BusinessCalendar::hours`], Monday first.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Limits that keep a calendar small enough to check and count fast.
pub mod limits {
    /// Working windows on one weekday.
    pub const MAX_WINDOWS_PER_DAY: usize = 48;
    /// Entries in `holidays` (ten years of a generous holiday list).
    pub const MAX_HOLIDAYS: usize = 1_000;
    /// How far (in days after the start) [`super::CheckedCalendar::add_business_time`]
    /// looks for the end of a duration before it gives up: about 100 years.
    pub const MAX_HORIZON_DAYS: u32 = 36_600;
}
use limits::*;

const SECONDS_PER_DAY: u32 = 24 * 3600;

/// A working calendar: hours per weekday in a time zone, and holidays.
///
/// ```json
/// {
///   "timeZone": "Europe/Berlin",
///   "hours": {
///     "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
///     "friday": [{"start": "09:00", "end": "15:00"}]
///   },
///   "holidays": ["2026-12-25", "2026-12-26"]
/// }
/// ```
///
/// Check it once with [`BusinessCalendar::validate`] and count with the
/// resulting [`CheckedCalendar`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusinessCalendar {
    /// IANA time zone, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// Working windows per weekday: keys "monday".."sunday" (lowercase); each
    /// a list of `{"start": "09:00", "end": "17:00"}` in local wall-clock time.
    /// A day absent or empty is not a working day. Several windows per day are
    /// allowed (lunch breaks): in order, not overlapping, each with
    /// start < end; "24:00" is allowed as an end.
    #[schemars(extend("propertyNames" = {
        "enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    }))]
    pub hours: BTreeMap<String, Vec<WorkingWindow>>,
    /// Dates (YYYY-MM-DD, local to the calendar) that are not working days.
    #[serde(default)]
    #[schemars(inner(pattern(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")))]
    pub holidays: Vec<String>,
}

/// One stretch of working time within a day, in local wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkingWindow {
    /// When work starts, "HH:MM" from "00:00" to "23:59".
    #[schemars(pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// When work ends (exclusive), "HH:MM" from "00:01" to "24:00"; after `start`.
    #[schemars(pattern(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))]
    pub end: String,
}

/// A calendar that is wrong. Every variant names the field (a path such as
/// `calendar.hours.friday[1].start`); fix it, never retry as is.
///
/// Every message starts with the field path followed by a space, like
/// [`DomainError::InvalidSpec`], into which it converts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// `timeZone` is not an IANA time zone name.
    #[error("{field} is `{zone}`, which is not an IANA time zone name (e.g. `Europe/Berlin`)")]
    UnknownTimeZone {
        /// Path of the `timeZone` field.
        field: String,
        /// The name given.
        zone: String,
    },

    /// A key of `hours` is not a lowercase English weekday name.
    #[error("{field} is not a weekday: use monday, tuesday, wednesday, thursday, friday, saturday or sunday")]
    UnknownWeekday {
        /// Path of the offending key, e.g. `calendar.hours.Friday`.
        field: String,
        /// The key given.
        name: String,
    },

    /// A window's `start` or `end` is not a time of day `HH:MM`.
    #[error("{field} is `{value}`, which is not a time of day HH:MM (00:00 to 23:59, or 24:00 as an end)")]
    InvalidTime {
        /// Path of the `start` or `end` field.
        field: String,
        /// The text given.
        value: String,
    },

    /// A window does not end after it starts.
    #[error("{field} is {end}, not after the window's start {start}")]
    EmptyWindow {
        /// Path of the window's `end` field.
        field: String,
        /// The window's start as given.
        start: String,
        /// The window's end as given.
        end: String,
    },

    /// A window starts before the previous window of the same day ends.
    #[error("{field} is {start}, before the previous window ends ({previous_end}); list a day's windows in order, without overlap")]
    OverlappingWindows {
        /// Path of the window's `start` field.
        field: String,
        /// The window's start as given.
        start: String,
        /// The previous window's end as given.
        previous_end: String,
    },

    /// A day lists more windows than [`limits::MAX_WINDOWS_PER_DAY`].
    #[error("{field} lists {count} windows; at most {max} are allowed")]
    TooManyWindows {
        /// Path of the weekday, e.g. `calendar.hours.monday`.
        field: String,
        /// How many windows it lists.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// No weekday has any working window.
    #[error("{field} gives no working time on any weekday")]
    NoWorkingTime {
        /// Path of the `hours` field.
        field: String,
    },

    /// A holiday is not a date `YYYY-MM-DD`.
    #[error("{field} is `{value}`, which is not a date YYYY-MM-DD")]
    InvalidHoliday {
        /// Path of the entry, e.g. `calendar.holidays[2]`.
        field: String,
        /// The text given.
        value: String,
    },

    /// A holiday is listed twice.
    #[error("{field} is {date}, which is already listed")]
    DuplicateHoliday {
        /// Path of the second entry.
        field: String,
        /// The date.
        date: NaiveDate,
    },

    /// More holidays than [`limits::MAX_HOLIDAYS`].
    #[error("{field} lists {count} dates; at most {max} are allowed")]
    TooManyHolidays {
        /// Path of the `holidays` field.
        field: String,
        /// How many dates it lists.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl CalendarError {
    /// The path of the field the error is about.
    pub fn field(&self) -> &str {
        match self {
            CalendarError::UnknownTimeZone { field, .. }
            | CalendarError::UnknownWeekday { field, .. }
            | CalendarError::InvalidTime { field, .. }
            | CalendarError::EmptyWindow { field, .. }
            | CalendarError::OverlappingWindows { field, .. }
            | CalendarError::TooManyWindows { field, .. }
            | CalendarError::NoWorkingTime { field }
            | CalendarError::InvalidHoliday { field, .. }
            | CalendarError::DuplicateHoliday { field, .. }
            | CalendarError::TooManyHolidays { field, .. } => field,
        }
    }
}

impl From<CalendarError> for DomainError {
    /// A calendar is part of a spec: its errors are [`DomainError::InvalidSpec`].
    fn from(error: CalendarError) -> Self {
        let field = error.field().to_owned();
        let message = error.to_string();
        let problem = message
            .strip_prefix(field.as_str())
            .map_or(message.as_str(), str::trim_start)
            .to_owned();
        DomainError::InvalidSpec { field, problem }
    }
}

impl BusinessCalendar {
    /// Parses and checks everything once: the time zone, weekday names, times,
    /// the order of each day's windows, holiday dates, and that some weekday
    /// has working time. `field` is the path of the calendar itself (e.g.
    /// `spec.businessHours`); errors name paths below it, such as
    /// `{field}.hours.friday[1].start`.
    pub fn validate(&self, field: &str) -> Result<CheckedCalendar, CalendarError> {
        let zone: Tz = self
            .time_zone
            .parse()
            .map_err(|_| CalendarError::UnknownTimeZone {
                field: format!("{field}.timeZone"),
                zone: self.time_zone.clone(),
            })?;

        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (name, windows) in &self.hours {
            let at = format!("{field}.hours.{name}");
            let Some(day) = WEEKDAY_NAMES.iter().position(|n| n == name) else {
                return Err(CalendarError::UnknownWeekday {
                    field: at,
                    name: name.clone(),
                });
            };
            if windows.len() > MAX_WINDOWS_PER_DAY {
                return Err(CalendarError::TooManyWindows {
                    field: at,
                    count: windows.len(),
                    max: MAX_WINDOWS_PER_DAY,
                });
            }
            let mut previous: Option<(u32, &str)> = None;
            for (i, window) in windows.iter().enumerate() {
                let at = format!("{at}[{i}]");
                let start =
                    parse_time(&window.start, false).ok_or_else(|| CalendarError::InvalidTime {
                        field: format!("{at}.start"),
                        value: window.start.clone(),
                    })?;
                let end =
                    parse_time(&window.end, true).ok_or_else(|| CalendarError::InvalidTime {
                        field: format!("{at}.end"),
                        value: window.end.clone(),
                    })?;
                if start >= end {
                    return Err(CalendarError::EmptyWindow {
                        field: format!("{at}.end"),
                        start: window.start.clone(),
                        end: window.end.clone(),
                    });
                }
                if let Some((previous_end, previous_text)) = previous {
                    if start < previous_end {
                        return Err(CalendarError::OverlappingWindows {
                            field: format!("{at}.start"),
                            start: window.start.clone(),
                            previous_end: previous_text.to_owned(),
                        });
                    }
                }
                previous = Some((end, &window.end));
                week[day].push((start, end));
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(CalendarError::NoWorkingTime {
                field: format!("{field}.hours"),
            });
        }

        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(CalendarError::TooManyHolidays {
                field: format!("{field}.holidays"),
                count: self.holidays.len(),
                max: MAX_HOLIDAYS,
            });
        }
        let mut holidays = BTreeSet::new();
        for (i, text) in self.holidays.iter().enumerate() {
            let at = format!("{field}.holidays[{i}]");
            let date = parse_date(text).ok_or_else(|| CalendarError::InvalidHoliday {
                field: at.clone(),
                value: text.clone(),
            })?;
            if !holidays.insert(date) {
                return Err(CalendarError::DuplicateHoliday { field: at, date });
            }
        }

        Ok(CheckedCalendar {
            zone,
            week,
            holidays,
        })
    }
}

/// `HH:MM` → seconds since midnight; `24:00` only when `end_of_day` is allowed.
fn parse_time(text: &str, end_of_day: bool) -> Option<u32> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let two = |at: usize| -> Option<u32> {
        let (h, l) = (bytes[at], bytes[at + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
    };
    let (hour, minute) = (two(0)?, two(3)?);
    match (hour, minute) {
        (24, 0) if end_of_day => Some(SECONDS_PER_DAY),
        (0..=23, 0..=59) => Some(hour * 3600 + minute * 60),
        _ => None,
    }
}

/// Strict `YYYY-MM-DD` (chrono alone would also take `2026-1-5`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// A [`BusinessCalendar`] that passed [`BusinessCalendar::validate`]: it
/// answers whether an instant is working time and counts working time.
///
/// See the [module documentation](self) for how windows map to real time
/// across daylight saving changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCalendar {
    zone: Tz,
    /// Monday first; each day's windows in order, as seconds since local
    /// midnight, `start < end <= 86_400`.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl CheckedCalendar {
    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.zone
    }

    /// The instant at which `duration` of working time has elapsed, counting
    /// from `start`.
    ///
    /// - If `start` is outside working time, counting begins at the next window start.
    /// - If the duration runs out exactly at a window's end, that end is the
    ///   answer (not the next window's start).
    /// - A zero (or negative) duration returns `start` itself, working time or not.
    /// - The result is always a working instant or the end of a window.
    ///
    /// The work is proportional to the number of calendar days spanned. If the
    /// duration would end more than [`limits::MAX_HORIZON_DAYS`] days (about
    /// 100 years) after `start`, or beyond what [`DateTime`] can represent,
    /// the answer saturates at [`DateTime::<Utc>::MAX_UTC`] ("never"); use
    /// [`CheckedCalendar::checked_add_business_time`] to tell.
    pub fn add_business_time(&self, start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        self.checked_add_business_time(start, duration)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Like [`CheckedCalendar::add_business_time`], but `None` where that saturates.
    pub fn checked_add_business_time(
        &self,
        start: DateTime<Utc>,
        duration: Duration,
    ) -> Option<DateTime<Utc>> {
        if duration <= Duration::zero() {
            return Some(start);
        }
        let mut remaining = duration;
        let mut date = self.first_date_covering(start);
        // One day before the start's local date, the start's date, then the horizon.
        for _ in 0..MAX_HORIZON_DAYS + 2 {
            for (window_start, window_end) in self.day_intervals(date) {
                if window_end <= start {
                    continue;
                }
                let from = window_start.max(start);
                let available = window_end.signed_duration_since(from);
                if remaining <= available {
                    return Some(from + remaining);
                }
                remaining -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Whether `at` is working time: inside a window (start inclusive, end
    /// exclusive) on a date that is not a holiday.
    pub fn is_working_time(&self, at: DateTime<Utc>) -> bool {
        let mut date = self.first_date_covering(at);
        // Windows of the day before and after the local date are checked too:
        // a fall-back change around midnight can put an instant of one local
        // date inside a window of a neighbouring one.
        for _ in 0..3 {
            if self
                .day_intervals(date)
                .iter()
                .any(|&(s, e)| s <= at && at < e)
            {
                return true;
            }
            let Some(next) = date.succ_opt() else {
                return false;
            };
            date = next;
        }
        false
    }

    /// The working time within `[from, to)`; zero if `to <= from`.
    ///
    /// The inverse of [`CheckedCalendar::add_business_time`]: for a positive
    /// `d`, `business_time_between(start, add_business_time(start, d)) == d`.
    /// The work is proportional to the number of calendar days between the two.
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if to <= from {
            return total;
        }
        // Windows of dates after the day after `to`'s local date start after `to`.
        let last = self.first_date_covering(to);
        let last = last
            .succ_opt()
            .and_then(|d| d.succ_opt())
            .unwrap_or(NaiveDate::MAX);
        let mut date = self.first_date_covering(from);
        loop {
            for (window_start, window_end) in self.day_intervals(date) {
                let (s, e) = (window_start.max(from), window_end.min(to));
                if s < e {
                    total += e.signed_duration_since(s);
                }
            }
            match date.succ_opt() {
                Some(next) if next <= last => date = next,
                _ => break,
            }
        }
        total
    }

    /// The first local date whose windows can contain `at` or later instants:
    /// the day before `at`'s local date (see [`CheckedCalendar::is_working_time`]).
    fn first_date_covering(&self, at: DateTime<Utc>) -> NaiveDate {
        // At the very ends of representable time the local date may not be;
        // the UTC date is then a day off at most, which the day before covers.
        let date = self.local_time(at).unwrap_or_else(|| at.naive_utc()).date();
        date.pred_opt().unwrap_or(date)
    }

    /// The wall-clock time at `at`; `None` if it is not representable.
    fn local_time(&self, at: DateTime<Utc>) -> Option<NaiveDateTime> {
        let utc = at.naive_utc();
        utc.checked_add_offset(self.zone.offset_from_utc_datetime(&utc).fix())
    }

    /// The real-time intervals of `date`'s windows, in order, empty ones
    /// (a window inside a spring-forward gap) left out, and so are windows
    /// beyond what [`DateTime`] can represent.
    fn day_intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let windows = &self.week[date.weekday().num_days_from_monday() as usize];
        let mut intervals = Vec::with_capacity(windows.len());
        for &(start, end) in windows {
            if let (Some(start), Some(end)) = (self.resolve(date, start), self.resolve(date, end)) {
                if start < end {
                    intervals.push((start, end));
                }
            }
        }
        intervals
    }

    /// The instant the wall clock first shows `seconds` after midnight of
    /// `date` (86 400 = the next midnight): the earliest of two for a
    /// fall-back time, the first instant after the gap for a skipped time.
    fn resolve(&self, date: NaiveDate, seconds: u32) -> Option<DateTime<Utc>> {
        let local = date
            .and_hms_opt(0, 0, 0)?
            .checked_add_signed(Duration::seconds(i64::from(seconds)))?;
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// For a local time skipped by a clock change: the transition instant,
    /// i.e. the first instant whose local time is at or after `local`.
    /// Transitions fall on whole seconds; UTC offsets stay within ±16 hours.
    fn end_of_gap(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        const BRACKET: i64 = 17 * 3600;
        let shown_at_or_after = |seconds: i64| -> Option<bool> {
            Some(self.local_time(DateTime::from_timestamp(seconds, 0)?)? >= local)
        };
        let pivot = local.and_utc().timestamp();
        let (mut before, mut after) = (pivot - BRACKET, pivot + BRACKET);
        if shown_at_or_after(before)? || !shown_at_or_after(after)? {
            return None;
        }
        while after - before > 1 {
            let middle = before + (after - before) / 2;
            if shown_at_or_after(middle)? {
                after = middle;
            } else {
                before = middle;
            }
        }
        DateTime::from_timestamp(after, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Europe};
    use proptest::prelude::*;
    use serde_json::json;

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    /// A local wall-clock time that exists exactly once.
    fn local(zone: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(at) => at.with_timezone(&Utc),
            other => panic!("{text} is not a unique local time in {zone}: {other:?}"),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .and_utc()
    }

    fn parse(value: serde_json::Value) -> BusinessCalendar {
        serde_json::from_value(value).expect("calendar JSON")
    }

    fn checked(value: serde_json::Value) -> CheckedCalendar {
        parse(value).validate("calendar").expect("valid calendar")
    }

    fn error(value: serde_json::Value) -> CalendarError {
        parse(value)
            .validate("calendar")
            .expect_err("calendar should be rejected")
    }

    /// Monday to Friday with the same windows.
    fn weekdays(zone: &str, windows: serde_json::Value, holidays: &[&str]) -> CheckedCalendar {
        let days = ["monday", "tuesday", "wednesday", "thursday", "friday"];
        let hours: serde_json::Map<String, serde_json::Value> = days
            .iter()
            .map(|d| (d.to_string(), windows.clone()))
            .collect();
        checked(json!({"timeZone": zone, "hours": hours, "holidays": holidays}))
    }

    /// Monday to Friday 09:00–17:00.
    fn office(zone: &str, holidays: &[&str]) -> CheckedCalendar {
        weekdays(zone, json!([{"start": "09:00", "end": "17:00"}]), holidays)
    }

    fn sunday_night(zone: &str) -> CheckedCalendar {
        checked(json!({
            "timeZone": zone,
            "hours": {"sunday": [{"start": "00:00", "end": "06:00"}]}
        }))
    }

    // --- the issue's examples -------------------------------------------

    #[test]
    fn friday_afternoon_plus_eight_hours_is_monday_afternoon() {
        let cal = office("Europe/Berlin", &[]);
        let friday = local(Europe::Berlin, "2026-01-16 16:00");
        // One hour on Friday, seven on Monday from 09:00.
        assert_eq!(
            cal.add_business_time(friday, hours(8)),
            local(Europe::Berlin, "2026-01-19 16:00")
        );
        // A full working day from Friday 15:00 ends at Monday 15:00.
        assert_eq!(
            cal.add_business_time(local(Europe::Berlin, "2026-01-16 15:00"), hours(8)),
            local(Europe::Berlin, "2026-01-19 15:00")
        );
    }

    #[test]
    fn submitted_on_saturday_counts_from_monday_morning() {
        let cal = office("Europe/Berlin", &[]);
        let saturday = local(Europe::Berlin, "2026-01-17 10:30");
        assert!(!cal.is_working_time(saturday));
        assert_eq!(
            cal.add_business_time(saturday, hours(1)),
            local(Europe::Berlin, "2026-01-19 10:00")
        );
        assert_eq!(
            cal.add_business_time(saturday, hours(8)),
            local(Europe::Berlin, "2026-01-19 17:00")
        );
    }

    #[test]
    fn a_monday_holiday_pushes_to_tuesday() {
        let cal = office("Europe/Berlin", &["2026-01-19"]);
        assert_eq!(
            cal.add_business_time(local(Europe::Berlin, "2026-01-16 16:00"), hours(8)),
            local(Europe::Berlin, "2026-01-20 16:00")
        );
        assert!(!cal.is_working_time(local(Europe::Berlin, "2026-01-19 10:00")));
        assert!(cal.is_working_time(local(Europe::Berlin, "2026-01-20 10:00")));
    }

    #[test]
    fn lunch_breaks_are_not_working_time() {
        let cal = weekdays(
            "Europe/Berlin",
            json!([{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]),
            &[],
        );
        let at = |t: &str| local(Europe::Berlin, &format!("2026-01-19 {t}"));
        assert_eq!(cal.add_business_time(at("11:00"), hours(1)), at("12:00"));
        assert_eq!(cal.add_business_time(at("11:00"), hours(2)), at("14:00"));
        assert_eq!(cal.add_business_time(at("12:30"), hours(1)), at("14:00"));
        assert_eq!(
            cal.business_time_between(at("09:00"), at("17:00")),
            hours(7)
        );
        assert_eq!(
            cal.business_time_between(at("11:30"), at("13:30")),
            hours(1)
        );
        assert!(cal.is_working_time(at("11:59")));
        assert!(!cal.is_working_time(at("12:00")));
        assert!(!cal.is_working_time(at("12:59")));
        assert!(cal.is_working_time(at("13:00")));
        // 7 hours a day: 8 hours from Monday 09:00 is Tuesday 10:00.
        assert_eq!(
            cal.add_business_time(at("09:00"), hours(8)),
            local(Europe::Berlin, "2026-01-20 10:00")
        );
    }

    // --- boundaries -----------------------------------------------------

    #[test]
    fn windows_are_half_open_and_a_duration_ending_at_a_window_end_returns_that_end() {
        let cal = office("Europe/Berlin", &[]);
        let at = |t: &str| local(Europe::Berlin, &format!("2026-01-16 {t}"));
        assert!(cal.is_working_time(at("09:00")));
        assert!(cal.is_working_time(at("17:00") - Duration::nanoseconds(1)));
        assert!(!cal.is_working_time(at("17:00")));
        assert!(!cal.is_working_time(at("09:00") - Duration::nanoseconds(1)));
        assert_eq!(cal.add_business_time(at("09:00"), hours(8)), at("17:00"));
        assert_eq!(
            cal.add_business_time(at("17:00"), Duration::seconds(1)),
            local(Europe::Berlin, "2026-01-19 09:00") + Duration::seconds(1)
        );
    }

    #[test]
    fn zero_or_negative_duration_returns_the_start_itself() {
        let cal = office("Europe/Berlin", &[]);
        let saturday = local(Europe::Berlin, "2026-01-17 10:00");
        let monday = local(Europe::Berlin, "2026-01-19 10:00");
        assert_eq!(cal.add_business_time(saturday, Duration::zero()), saturday);
        assert_eq!(cal.add_business_time(monday, Duration::zero()), monday);
        assert_eq!(cal.add_business_time(monday, hours(-3)), monday);
        assert_eq!(
            cal.business_time_between(monday, saturday),
            Duration::zero()
        );
        assert_eq!(cal.business_time_between(monday, monday), Duration::zero());
    }

    #[test]
    fn a_window_ending_at_midnight_joins_the_next_days_window() {
        let cal = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {
                "monday": [{"start": "22:00", "end": "24:00"}],
                "tuesday": [{"start": "00:00", "end": "02:00"}]
            }
        }));
        let monday_2300 = local(Europe::Berlin, "2026-01-19 23:00");
        assert_eq!(
            cal.add_business_time(monday_2300, hours(2)),
            local(Europe::Berlin, "2026-01-20 01:00")
        );
        assert!(cal.is_working_time(local(Europe::Berlin, "2026-01-20 00:00")));
        assert!(!cal.is_working_time(local(Europe::Berlin, "2026-01-20 02:00")));
        // 4 hours a week: 8 hours from Monday 22:00 is the next Tuesday 02:00.
        assert_eq!(
            cal.add_business_time(local(Europe::Berlin, "2026-01-19 22:00"), hours(8)),
            local(Europe::Berlin, "2026-01-27 02:00")
        );
    }

    #[test]
    fn a_calendar_that_always_works_is_plain_time_even_across_dst() {
        let all_day = json!([{"start": "00:00", "end": "24:00"}]);
        let cal = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {
                "monday": all_day, "tuesday": all_day, "wednesday": all_day,
                "thursday": all_day, "friday": all_day, "saturday": all_day,
                "sunday": all_day
            }
        }));
        for start in [
            local(Europe::Berlin, "2026-03-28 12:00"),
            local(Europe::Berlin, "2026-10-24 12:00"),
        ] {
            for h in [1, 13, 24, 25, 48, 100] {
                assert_eq!(cal.add_business_time(start, hours(h)), start + hours(h));
                assert_eq!(cal.business_time_between(start, start + hours(h)), hours(h));
            }
        }
    }

    // --- daylight saving time: Europe/Berlin ------------------------------

    #[test]
    fn berlin_spring_forward_sunday_window_is_five_real_hours() {
        let cal = sunday_night("Europe/Berlin");
        // 2026-03-29: 02:00 CET becomes 03:00 CEST.
        let start = local(Europe::Berlin, "2026-03-29 00:00");
        assert_eq!(start, utc("2026-03-28 23:00"));
        let end = local(Europe::Berlin, "2026-03-29 06:00");
        assert_eq!(end, utc("2026-03-29 04:00"));
        assert_eq!(
            cal.business_time_between(utc("2026-03-27 00:00"), utc("2026-03-31 00:00")),
            hours(5)
        );
        assert_eq!(cal.add_business_time(start, hours(5)), end);
        // Two hours before the gap, then half an hour after it: 03:30 CEST.
        assert_eq!(
            cal.add_business_time(start, Duration::minutes(150)),
            local(Europe::Berlin, "2026-03-29 03:30")
        );
        // The Sunday before has six hours.
        assert_eq!(
            cal.business_time_between(utc("2026-03-20 00:00"), utc("2026-03-24 00:00")),
            hours(6)
        );
    }

    #[test]
    fn berlin_weekday_across_the_spring_forward_weekend() {
        let cal = office("Europe/Berlin", &[]);
        let friday = local(Europe::Berlin, "2026-03-27 16:00");
        assert_eq!(friday, utc("2026-03-27 15:00"));
        let due = cal.add_business_time(friday, hours(8));
        // Monday 16:00 local, UTC+2 by then.
        assert_eq!(due, local(Europe::Berlin, "2026-03-30 16:00"));
        assert_eq!(due, utc("2026-03-30 14:00"));
        assert_eq!(
            cal.add_business_time(local(Europe::Berlin, "2026-03-27 15:00"), hours(8)),
            utc("2026-03-30 13:00")
        );
        assert_eq!(cal.business_time_between(friday, due), hours(8));
    }

    #[test]
    fn berlin_fall_back_sunday_window_is_seven_real_hours() {
        let cal = sunday_night("Europe/Berlin");
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00–03:00 happens twice.
        let start = local(Europe::Berlin, "2026-10-25 00:00");
        assert_eq!(start, utc("2026-10-24 22:00"));
        let end = local(Europe::Berlin, "2026-10-25 06:00");
        assert_eq!(end, utc("2026-10-25 05:00"));
        assert_eq!(
            cal.business_time_between(utc("2026-10-23 00:00"), utc("2026-10-27 00:00")),
            hours(7)
        );
        assert_eq!(cal.add_business_time(start, hours(7)), end);
        // Both passes through 02:00–03:00 are working time.
        assert!(cal.is_working_time(utc("2026-10-25 00:30")));
        assert!(cal.is_working_time(utc("2026-10-25 01:30")));
    }

    #[test]
    fn berlin_weekday_across_the_fall_back_weekend() {
        let cal = office("Europe/Berlin", &[]);
        let friday = local(Europe::Berlin, "2026-10-23 16:00");
        assert_eq!(friday, utc("2026-10-23 14:00"));
        let due = cal.add_business_time(friday, hours(8));
        assert_eq!(due, local(Europe::Berlin, "2026-10-26 16:00"));
        assert_eq!(due, utc("2026-10-26 15:00"));
        assert_eq!(cal.business_time_between(friday, due), hours(8));
    }

    #[test]
    fn a_window_start_in_the_gap_starts_at_the_first_instant_after_it() {
        let cal = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {"sunday": [{"start": "02:30", "end": "04:00"}]}
        }));
        // 02:30 does not exist on 2026-03-29: work starts at 03:00 CEST.
        let sunday = |t: &str| utc(&format!("2026-03-29 {t}"));
        assert!(!cal.is_working_time(sunday("00:59")));
        assert!(cal.is_working_time(sunday("01:00")));
        assert_eq!(
            cal.business_time_between(sunday("00:00"), sunday("12:00")),
            hours(1)
        );
        assert_eq!(
            cal.add_business_time(utc("2026-03-28 12:00"), Duration::minutes(30)),
            sunday("01:30")
        );
    }

    #[test]
    fn ambiguous_window_times_mean_their_first_occurrence() {
        // 2026-10-25: 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET).
        let late_start = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {"sunday": [{"start": "02:30", "end": "04:00"}]}
        }));
        let sunday = |t: &str| utc(&format!("2026-10-25 {t}"));
        assert!(late_start.is_working_time(sunday("00:30")));
        assert!(!late_start.is_working_time(sunday("00:29")));
        assert_eq!(
            late_start.business_time_between(sunday("00:00"), sunday("12:00")),
            Duration::minutes(150)
        );
        let early_end = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {"sunday": [{"start": "00:00", "end": "02:30"}]}
        }));
        assert!(early_end.is_working_time(sunday("00:29")));
        assert!(!early_end.is_working_time(sunday("00:30")));
        assert!(!early_end.is_working_time(sunday("01:30")));
        assert_eq!(
            early_end.business_time_between(utc("2026-10-24 00:00"), sunday("12:00")),
            Duration::minutes(150)
        );
    }

    #[test]
    fn a_window_end_in_the_gap_ends_where_the_gap_ends() {
        let cal = checked(json!({
            "timeZone": "Europe/Berlin",
            "hours": {"sunday": [{"start": "00:00", "end": "02:30"}]}
        }));
        // 00:00 CET to 03:00 CEST: two real hours.
        assert_eq!(
            cal.business_time_between(utc("2026-03-28 00:00"), utc("2026-03-30 00:00")),
            hours(2)
        );
        assert_eq!(
            cal.add_business_time(utc("2026-03-28 00:00"), hours(2)),
            utc("2026-03-29 01:00")
        );
    }

    // --- daylight saving time: America/New_York ---------------------------

    #[test]
    fn new_york_spring_forward() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        let night = sunday_night("America/New_York");
        assert_eq!(
            night.business_time_between(utc("2026-03-07 00:00"), utc("2026-03-10 00:00")),
            hours(5)
        );
        let start = local(America::New_York, "2026-03-08 00:00");
        assert_eq!(
            night.add_business_time(start, hours(5)),
            local(America::New_York, "2026-03-08 06:00")
        );
        let cal = office("America/New_York", &[]);
        let friday = local(America::New_York, "2026-03-06 16:00");
        assert_eq!(friday, utc("2026-03-06 21:00"));
        let due = cal.add_business_time(friday, hours(8));
        assert_eq!(due, local(America::New_York, "2026-03-09 16:00"));
        assert_eq!(due, utc("2026-03-09 20:00"));
    }

    #[test]
    fn new_york_fall_back() {
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00–02:00 happens twice.
        let night = sunday_night("America/New_York");
        assert_eq!(
            night.business_time_between(utc("2026-10-31 00:00"), utc("2026-11-03 00:00")),
            hours(7)
        );
        let start = local(America::New_York, "2026-11-01 00:00");
        assert_eq!(
            night.add_business_time(start, hours(7)),
            local(America::New_York, "2026-11-01 06:00")
        );
        let cal = office("America/New_York", &[]);
        let friday = local(America::New_York, "2026-10-30 16:00");
        assert_eq!(friday, utc("2026-10-30 20:00"));
        let due = cal.add_business_time(friday, hours(8));
        assert_eq!(due, local(America::New_York, "2026-11-02 16:00"));
        assert_eq!(due, utc("2026-11-02 21:00"));
    }

    // --- odd zones ----------------------------------------------------------

    #[test]
    fn sao_paulo_fall_back_across_midnight() {
        // 2019-02-17 00:00 (-02) became 2019-02-16 23:00 (-03): Saturday
        // 23:00–24:00 happens twice, so Saturday 22:00–24:00 is three hours.
        let cal = checked(json!({
            "timeZone": "America/Sao_Paulo",
            "hours": {
                "saturday": [{"start": "22:00", "end": "24:00"}],
                "sunday": [{"start": "00:00", "end": "01:00"}]
            }
        }));
        assert_eq!(
            cal.business_time_between(utc("2019-02-16 12:00"), utc("2019-02-17 12:00")),
            hours(4)
        );
        assert!(cal.is_working_time(utc("2019-02-17 02:30")));
        assert_eq!(
            cal.add_business_time(utc("2019-02-16 12:00"), hours(4)),
            utc("2019-02-17 04:00")
        );
    }

    #[test]
    fn a_skipped_day_has_no_working_time() {
        // Pacific/Apia skipped Friday 2011-12-30 entirely.
        let every_day = json!([{"start": "09:00", "end": "17:00"}]);
        let cal = checked(json!({
            "timeZone": "Pacific/Apia",
            "hours": {
                "monday": every_day, "tuesday": every_day, "wednesday": every_day,
                "thursday": every_day, "friday": every_day, "saturday": every_day,
                "sunday": every_day
            }
        }));
        let zone: Tz = "Pacific/Apia".parse().unwrap();
        assert_eq!(
            cal.add_business_time(local(zone, "2011-12-29 16:00"), hours(2)),
            local(zone, "2011-12-31 10:00")
        );
    }

    // --- long durations -----------------------------------------------------

    #[test]
    fn two_hundred_business_hours_span_five_weeks() {
        let cal = office("Europe/Berlin", &[]);
        let start = local(Europe::Berlin, "2026-03-02 09:00");
        let due = cal.add_business_time(start, hours(200));
        assert_eq!(due, local(Europe::Berlin, "2026-04-03 17:00"));
        assert_eq!(cal.business_time_between(start, due), hours(200));

        // Good Friday and Easter Monday push it to Tuesday.
        let easter = office("Europe/Berlin", &["2026-04-03", "2026-04-06"]);
        let due = easter.add_business_time(start, hours(200));
        assert_eq!(due, local(Europe::Berlin, "2026-04-07 17:00"));
        assert_eq!(easter.business_time_between(start, due), hours(200));
    }

    #[test]
    fn durations_beyond_the_horizon_saturate() {
        let cal = office("Europe/Berlin", &[]);
        let start = local(Europe::Berlin, "2026-01-19 09:00");
        // 40 hours a week for 101 years runs past the horizon of about 100 years.
        let far = hours(40 * 52 * 101);
        assert_eq!(cal.checked_add_business_time(start, far), None);
        assert_eq!(cal.add_business_time(start, far), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            cal.add_business_time(start, Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        // 40 hours a week for 90 years is within it.
        let ninety_years = hours(40 * 52 * 90);
        let due = cal.add_business_time(start, ninety_years);
        assert!(due < start + Duration::days(MAX_HORIZON_DAYS.into()));
        assert_eq!(cal.business_time_between(start, due), ninety_years);
        // Near the end of representable time, it saturates rather than panics.
        let end = DateTime::<Utc>::MAX_UTC - Duration::days(3);
        assert_eq!(
            cal.add_business_time(end, hours(100)),
            DateTime::<Utc>::MAX_UTC
        );
        assert!(cal.business_time_between(end, DateTime::<Utc>::MAX_UTC) <= hours(24));
    }

    #[test]
    fn the_ends_of_representable_time_do_not_panic() {
        for zone in ["Pacific/Kiritimati", "Etc/GMT+12", "Europe/Berlin"] {
            let cal = checked(json!({
                "timeZone": zone,
                "hours": {
                    "sunday": [{"start": "00:00", "end": "24:00"}],
                    "monday": [{"start": "09:00", "end": "17:00"}]
                }
            }));
            let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
            for at in [min, min + Duration::days(2), max - Duration::days(2), max] {
                cal.is_working_time(at);
                let due = cal.add_business_time(at, hours(30));
                assert!(due == max || cal.business_time_between(at, due) == hours(30));
                let week_later = at.checked_add_signed(Duration::days(7)).unwrap_or(max);
                assert!(cal.business_time_between(at, week_later) <= Duration::days(7));
            }
            let early = cal.business_time_between(min, min + Duration::days(30));
            assert!(early >= hours(24 * 3), "{zone}: {early}");
            let due = cal.add_business_time(min, hours(30));
            assert!(due < min + Duration::days(30), "{zone}: {due}");
        }
    }

    // --- properties -------------------------------------------------------

    fn fixtures() -> Vec<CheckedCalendar> {
        let every_day = |w: serde_json::Value| {
            json!({
                "monday": w, "tuesday": w, "wednesday": w, "thursday": w,
                "friday": w, "saturday": w, "sunday": w
            })
        };
        vec![
            office("Europe/Berlin", &["2026-04-03", "2026-04-06", "2026-12-25"]),
            weekdays(
                "America/New_York",
                json!([{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]),
                &["2026-11-26"],
            ),
            sunday_night("Europe/Berlin"),
            sunday_night("America/New_York"),
            checked(json!({
                "timeZone": "Australia/Lord_Howe",
                "hours": every_day(json!([{"start": "00:00", "end": "24:00"}]))
            })),
            checked(json!({
                "timeZone": "America/Sao_Paulo",
                "hours": {
                    "saturday": [{"start": "22:00", "end": "24:00"}],
                    "sunday": [{"start": "00:00", "end": "06:00"}],
                    "wednesday": [{"start": "01:30", "end": "02:15"}]
                }
            })),
            checked(json!({
                "timeZone": "Pacific/Apia",
                "hours": every_day(json!([{"start": "09:00", "end": "17:00"}]))
            })),
            checked(json!({
                "timeZone": "Pacific/Chatham",
                "hours": {"sunday": [{"start": "02:00", "end": "04:00"}, {"start": "04:00", "end": "05:00"}]}
            })),
            checked(json!({
                "timeZone": "Asia/Kolkata",
                "hours": {"monday": [{"start": "10:00", "end": "18:30"}]}
            })),
        ]
    }

    /// 2010-01-01 to 2035-01-01.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_262_304_000i64..2_051_222_400, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
    }

    fn positive_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (1i64..=3_600_000_000_000).prop_map(Duration::nanoseconds),
            (1i64..=600).prop_map(Duration::hours),
            (1i64..=36_000).prop_map(Duration::minutes),
        ]
    }

    /// Up to 60 days, to the nanosecond.
    fn gap() -> impl Strategy<Value = Duration> {
        (0i64..60 * 86_400, 0i64..1_000_000_000)
            .prop_map(|(s, n)| Duration::seconds(s) + Duration::nanoseconds(n))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn adding_then_measuring_gives_the_duration_back(
            which in 0usize..9,
            start in instant(),
            duration in positive_duration(),
        ) {
            let cal = &fixtures()[which];
            let due = cal.add_business_time(start, duration);
            prop_assert!(due > start);
            prop_assert_eq!(cal.business_time_between(start, due), duration);
            // The due instant is working time or a window's end: work happens just before it.
            let just_before = due - Duration::nanoseconds(1);
            prop_assert!(cal.is_working_time(just_before));
            prop_assert_eq!(
                cal.business_time_between(start, just_before),
                duration - Duration::nanoseconds(1)
            );
        }

        #[test]
        fn adding_in_two_steps_is_adding_once(
            which in 0usize..9,
            start in instant(),
            first in positive_duration(),
            second in positive_duration(),
        ) {
            let cal = &fixtures()[which];
            let halfway = cal.add_business_time(start, first);
            prop_assert_eq!(
                cal.add_business_time(halfway, second),
                cal.add_business_time(start, first + second)
            );
            prop_assert!(cal.add_business_time(start, first) <= cal.add_business_time(start, first + second));
        }

        #[test]
        fn is_working_time_agrees_with_business_time_between(
            which in 0usize..9,
            at in instant(),
        ) {
            let cal = &fixtures()[which];
            let tick = Duration::nanoseconds(1);
            prop_assert_eq!(
                cal.is_working_time(at),
                cal.business_time_between(at, at + tick) == tick
            );
        }

        #[test]
        fn business_time_between_is_additive(
            which in 0usize..9,
            a in instant(),
            to_b in gap(),
            to_c in gap(),
        ) {
            let cal = &fixtures()[which];
            let (b, c) = (a + to_b, a + to_b + to_c);
            prop_assert_eq!(
                cal.business_time_between(a, b) + cal.business_time_between(b, c),
                cal.business_time_between(a, c)
            );
            prop_assert!(cal.business_time_between(a, c) <= c.signed_duration_since(a));
        }
    }

    // --- validation -------------------------------------------------------

    fn office_json() -> serde_json::Value {
        json!({
            "timeZone": "Europe/Berlin",
            "hours": {
                "monday": [{"start": "09:00", "end": "17:00"}],
                "friday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "15:00"}]
            },
            "holidays": ["2026-12-24", "2026-12-25"]
        })
    }

    fn with(pointer: &str, value: serde_json::Value) -> serde_json::Value {
        let mut json = office_json();
        *json.pointer_mut(pointer).expect(pointer) = value;
        json
    }

    #[test]
    fn the_json_shape_round_trips() {
        let calendar = parse(office_json());
        assert_eq!(serde_json::to_value(&calendar).unwrap(), office_json());
        assert!(calendar.validate("calendar").is_ok());
        // holidays may be left out.
        let no_holidays = parse(json!({
            "timeZone": "UTC",
            "hours": {"monday": [{"start": "00:00", "end": "24:00"}]}
        }));
        assert!(no_holidays.holidays.is_empty());
        assert!(no_holidays.validate("calendar").is_ok());
    }

    #[test]
    fn the_json_schema_constrains_names_times_and_dates() {
        let schema = serde_json::to_value(schemars::schema_for!(BusinessCalendar)).unwrap();
        let properties = &schema["properties"];
        assert_eq!(
            properties["hours"]["propertyNames"]["enum"],
            json!(WEEKDAY_NAMES)
        );
        assert_eq!(
            properties["holidays"]["items"]["pattern"],
            json!(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        );
        assert_eq!(schema["additionalProperties"], json!(false));
        let window = &schema["$defs"]["WorkingWindow"];
        assert_eq!(window["additionalProperties"], json!(false));
        assert!(window["properties"]["end"]["pattern"]
            .as_str()
            .unwrap()
            .contains("24:00"));
    }

    #[test]
    fn unknown_fields_are_rejected_when_decoding() {
        let mut extra = office_json();
        extra["timezone"] = json!("UTC");
        assert!(serde_json::from_value::<BusinessCalendar>(extra).is_err());
        let window = with(
            "/hours/monday/0",
            json!({"start": "09:00", "end": "17:00", "tz": "UTC"}),
        );
        assert!(serde_json::from_value::<BusinessCalendar>(window).is_err());
    }

    #[test]
    fn an_unknown_time_zone_names_the_field() {
        let e = error(with("/timeZone", json!("Mars/Olympus_Mons")));
        assert_eq!(e.field(), "calendar.timeZone");
        assert!(
            matches!(e, CalendarError::UnknownTimeZone { ref zone, .. } if zone == "Mars/Olympus_Mons")
        );
        assert!(e.to_string().starts_with("calendar.timeZone "), "{e}");
    }

    #[test]
    fn a_bad_weekday_name_names_the_key() {
        let mut json = office_json();
        json["hours"]["Friday"] = json!([{"start": "09:00", "end": "17:00"}]);
        let e = error(json);
        assert_eq!(e.field(), "calendar.hours.Friday");
        assert!(matches!(e, CalendarError::UnknownWeekday { .. }));
        let mut json = office_json();
        json["hours"]["fri"] = json!([]);
        assert_eq!(error(json).field(), "calendar.hours.fri");
    }

    #[test]
    fn bad_times_name_the_window_field() {
        for bad in [
            "9:00", "09:60", "25:00", "24:00", "0900", "09:00:00", "", "ab:cd", "+9:00",
        ] {
            let e = error(with("/hours/friday/1/start", json!(bad)));
            assert_eq!(e.field(), "calendar.hours.friday[1].start", "{bad}");
            assert!(
                matches!(e, CalendarError::InvalidTime { .. }),
                "{bad}: {e:?}"
            );
        }
        for bad in ["24:01", "25:00", "17", "5pm"] {
            let e = error(with("/hours/monday/0/end", json!(bad)));
            assert_eq!(e.field(), "calendar.hours.monday[0].end", "{bad}");
            assert!(
                matches!(e, CalendarError::InvalidTime { .. }),
                "{bad}: {e:?}"
            );
        }
        // 24:00 is fine as an end.
        assert!(parse(with("/hours/monday/0/end", json!("24:00")))
            .validate("calendar")
            .is_ok());
    }

    #[test]
    fn a_window_must_end_after_it_starts() {
        for end in ["13:00", "12:59", "00:00"] {
            let e = error(with("/hours/friday/1/end", json!(end)));
            assert_eq!(e.field(), "calendar.hours.friday[1].end");
            assert!(matches!(e, CalendarError::EmptyWindow { .. }), "{e:?}");
        }
    }

    #[test]
    fn windows_must_be_in_order_and_not_overlap() {
        // Overlapping.
        let e = error(with("/hours/friday/1/start", json!("11:00")));
        assert_eq!(e.field(), "calendar.hours.friday[1].start");
        assert_eq!(
            e,
            CalendarError::OverlappingWindows {
                field: "calendar.hours.friday[1].start".into(),
                start: "11:00".into(),
                previous_end: "12:00".into(),
            }
        );
        // Out of order.
        let e = error(with(
            "/hours/friday",
            json!([{"start": "13:00", "end": "15:00"}, {"start": "09:00", "end": "12:00"}]),
        ));
        assert_eq!(e.field(), "calendar.hours.friday[1].start");
        // Touching windows are fine.
        assert!(parse(with("/hours/friday/1/start", json!("12:00")))
            .validate("calendar")
            .is_ok());
    }

    #[test]
    fn a_calendar_without_working_time_is_rejected() {
        let e = error(with("/hours", json!({})));
        assert_eq!(
            e,
            CalendarError::NoWorkingTime {
                field: "calendar.hours".into()
            }
        );
        let e = error(with("/hours", json!({"monday": [], "sunday": []})));
        assert_eq!(e.field(), "calendar.hours");
    }

    #[test]
    fn bad_holidays_name_the_entry() {
        for bad in [
            "2026-02-30",
            "2026-2-3",
            "26-12-24",
            "2026/12/24",
            "christmas",
            "+2026-12-2",
        ] {
            let e = error(with("/holidays/1", json!(bad)));
            assert_eq!(e.field(), "calendar.holidays[1]", "{bad}");
            assert!(
                matches!(e, CalendarError::InvalidHoliday { .. }),
                "{bad}: {e:?}"
            );
        }
        let e = error(with("/holidays/1", json!("2026-12-24")));
        assert_eq!(e.field(), "calendar.holidays[1]");
        assert!(matches!(e, CalendarError::DuplicateHoliday { .. }));
    }

    #[test]
    fn limits_are_enforced() {
        let many: Vec<_> = (0..=MAX_WINDOWS_PER_DAY)
            .map(|i| json!({"start": format!("{:02}:{:02}", i / 2, (i % 2) * 30), "end": format!("{:02}:{:02}", i / 2, (i % 2) * 30 + 10)}))
            .collect();
        let e = error(with("/hours/monday", json!(many)));
        assert_eq!(e.field(), "calendar.hours.monday");
        assert!(matches!(e, CalendarError::TooManyWindows { .. }), "{e:?}");

        let dates: Vec<String> = (0..=MAX_HOLIDAYS as i64)
            .map(|i| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(i)).to_string())
            .collect();
        let e = error(with("/holidays", json!(dates)));
        assert_eq!(e.field(), "calendar.holidays");
    }

    #[test]
    fn calendar_errors_become_invalid_spec_errors() {
        let e = error(with("/hours/friday/1/start", json!("11:00")));
        let domain: DomainError = e.into();
        assert_eq!(domain.code(), "INVALID_SPEC");
        assert_eq!(domain.field(), Some("calendar.hours.friday[1].start"));
        assert_eq!(
            domain.to_string(),
            "calendar.hours.friday[1].start is 11:00, before the previous window ends (12:00); list a day's windows in order, without overlap"
        );
        let weekday: DomainError = error(with("/hours", json!({"Monday": []}))).into();
        assert_eq!(
            weekday.to_string(),
            "calendar.hours.Monday is not a weekday: use monday, tuesday, wednesday, thursday, friday, saturday or sunday"
        );
    }
}
