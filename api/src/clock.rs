//! Time is an input: processes read it from a [`Clock`] so tests can set it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told (tests, demos).
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = at;
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// Time read from a file holding one RFC 3339 instant, re-read on every call:
/// for rehearsing deadlines (and for tests that run processes) without waiting.
/// An unreadable file yields the last good reading (at first, the epoch).
pub struct FileClock {
    path: std::path::PathBuf,
    last: Mutex<DateTime<Utc>>,
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(DateTime::<Utc>::UNIX_EPOCH),
        }
    }

    /// Writes `at` for every FileClock reading `path`.
    pub fn write(path: &std::path::Path, at: DateTime<Utc>) -> std::io::Result<()> {
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, at.to_rfc3339())?;
        std::fs::rename(temp, path)
    }
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let mut last = self.last.lock().expect("clock lock");
        if let Some(at) = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        {
            *last = at.with_timezone(&Utc);
        }
        *last
    }
}
