//! Redis-style log lines: `pid:M 26 Nov 2026 09:30:00.123 * message`.
//! Level markers: `.` debug, `-` verbose, `*` notice, `#` warning.

use std::io::Write;
use std::sync::Arc;

use redsim_core::server::LogLevel;

#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

struct Inner {
    pid: u32,
    role: char,
    min: LogLevel,
    file: Option<std::sync::Mutex<std::fs::File>>,
    clock: Arc<dyn crate::Clock>,
    quiet: bool,
}

fn rank(l: LogLevel) -> u8 {
    match l {
        LogLevel::Debug => 0,
        LogLevel::Verbose => 1,
        LogLevel::Notice => 2,
        LogLevel::Warning => 3,
    }
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn timestamp(ms: i64) -> String {
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MON[(m - 1) as usize],
        y,
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

impl Logger {
    pub fn new(
        pid: u32,
        level: &str,
        logfile: &str,
        clock: Arc<dyn crate::Clock>,
    ) -> std::io::Result<Logger> {
        Logger::with_role(pid, 'M', level, logfile, clock)
    }

    /// `role` is the letter after the pid: M master, S replica, X sentinel.
    pub fn with_role(
        pid: u32,
        role: char,
        level: &str,
        logfile: &str,
        clock: Arc<dyn crate::Clock>,
    ) -> std::io::Result<Logger> {
        let min = match level {
            "debug" => LogLevel::Debug,
            "verbose" => LogLevel::Verbose,
            "warning" => LogLevel::Warning,
            _ => LogLevel::Notice,
        };
        let file = if logfile.is_empty() {
            None
        } else {
            Some(std::sync::Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(logfile)?,
            ))
        };
        Ok(Logger {
            inner: Arc::new(Inner {
                pid,
                role,
                min,
                file,
                clock,
                quiet: level == "nothing",
            }),
        })
    }

    pub fn log(&self, level: LogLevel, msg: &str) {
        let i = &self.inner;
        if i.quiet || rank(level) < rank(i.min) {
            return;
        }
        let mark = match level {
            LogLevel::Debug => '.',
            LogLevel::Verbose => '-',
            LogLevel::Notice => '*',
            LogLevel::Warning => '#',
        };
        let line = format!(
            "{}:{} {} {} {}\n",
            i.pid,
            i.role,
            timestamp(i.clock.now_ms()),
            mark,
            msg
        );
        match &i.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stdout().write_all(line.as_bytes());
            }
        }
    }

    pub fn notice(&self, msg: &str) {
        self.log(LogLevel::Notice, msg);
    }
    pub fn warning(&self, msg: &str) {
        self.log(LogLevel::Warning, msg);
    }
    pub fn verbose(&self, msg: &str) {
        self.log(LogLevel::Verbose, msg);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_format() {
        assert_eq!(
            super::timestamp(1_764_149_400_123),
            "26 Nov 2025 09:30:00.123"
        );
    }
}
