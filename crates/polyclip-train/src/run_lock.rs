//! The run-folder lock: one run at a time writes a run folder (a recipe run, `polyclip eval --out`,
//! `polyclip prepare --out`). An OS advisory lock (`flock`) on
//! `<run folder>/.polyclip.lock`, which holds the holder's pid and start time; the OS drops the lock when the
//! process ends, however it ends, so the lock of a run that was killed is taken over (with a warning naming it).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::TrainError;

/// The lock file's name in a run folder.
pub const LOCK_FILE: &str = ".polyclip.lock";

/// Held for as long as a run writes its folder; released (and emptied) when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of `run_dir` (created when missing), or says in one line who holds it.
    pub fn acquire(run_dir: &Path) -> Result<Self, TrainError> {
        std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        let path = run_dir.join(LOCK_FILE);
        let io = |e| TrainError::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut holder = String::new();
        if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock() {
            file.read_to_string(&mut holder).map_err(io)?;
            return Err(TrainError::Locked {
                run_dir: run_dir.to_owned(),
                holder: describe(&holder),
            });
        }
        file.read_to_string(&mut holder).map_err(io)?;
        if !holder.trim().is_empty() {
            eprintln!(
                "polyclip: {}: taking over the lock of a run that ended without releasing it ({})",
                run_dir.display(),
                describe(&holder)
            );
        }
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "pid {} started {started}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { file })
    }
}

impl Drop for RunLock {
    /// Empties the file (a later run sees a clean release) and unlocks it; the file stays, so that a run
    /// waiting on it never locks a file that was unlinked.
    fn drop(&mut self) {
        // Nothing to report from a destructor: the OS releases the lock when the file closes in any case.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The holder as the lock file says it: `pid 1234, started 2026-12-05 07:00:00 UTC`.
fn describe(holder: &str) -> String {
    let mut words = holder.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pid"), Some(pid), Some("started"), Some(seconds)) => {
            let since = seconds
                .parse::<u64>()
                .map_or_else(|_| seconds.to_string(), utc);
            format!("pid {pid}, started {since}")
        }
        _ => format!("lock file says {:?}", holder.trim()),
    }
}

/// `2026-12-05 07:00:00 UTC` for seconds since the Unix epoch (the civil calendar from days, as in
/// Howard Hinnant's `civil_from_days`).
fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
