//! Failpoints for the crash tests: with `POLYCLIP_FAILPOINT=NAME:N` the process aborts — no destructor, no
//! flush, as a SIGKILL or a power cut leaves things — the N-th time it reaches the point called NAME. The points:
//! `step` (an optimizer step done, nothing of it written), `checkpoint` (a checkpoint's weights written, its
//! state not), `latest` (a checkpoint complete, the `latest` pointer not yet moved) and `stage-end` (a stage's
//! final weights written, its key not). Without the variable a point costs one lookup, made once.
//! `NAME:N:freeze` stops there instead without ending the process (it sleeps, its connections open), as a machine
//! that freezes or drops off the network does: for the collective's deadline.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the point and its count.
pub const FAILPOINT_VAR: &str = "POLYCLIP_FAILPOINT";

/// Aborts the process if this is the armed point's N-th visit.
pub fn failpoint(name: &str) {
    static ARMED: OnceLock<Option<(String, usize, bool)>> = OnceLock::new();
    static VISITS: AtomicUsize = AtomicUsize::new(0);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var(FAILPOINT_VAR).ok()?;
        let mut fields = value.split(':');
        let point = fields.next()?.to_owned();
        let count = fields.next()?.parse().ok()?;
        let freeze = match fields.next() {
            None => false,
            Some("freeze") => true,
            Some(_) => return None,
        };
        Some((point, count, freeze))
    });
    if let Some((point, count, freeze)) = armed
        && point == name
        && VISITS.fetch_add(1, Ordering::SeqCst) + 1 == *count
    {
        if *freeze {
            eprintln!("polyclip: {FAILPOINT_VAR}={name}:{count}:freeze: frozen here");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        eprintln!("polyclip: {FAILPOINT_VAR}={name}:{count}: aborting here");
        std::process::abort();
    }
}
