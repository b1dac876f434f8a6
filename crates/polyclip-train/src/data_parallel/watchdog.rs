//! A deadline on the collective operations between nodes. A node whose process dies closes its connections and the
//! others learn it at once; a machine that freezes or drops off the network closes nothing, and burn-collective
//! would wait for it forever. Each operation between nodes is armed with a deadline (`--collective-timeout`); a
//! thread checks the deadlines and, when one passes, says so and ends the process (the thread blocked in the
//! operation cannot be given back).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// An armed operation: when it must be answered by, the time it was given, and what it is.
struct Deadline {
    at: Instant,
    within: Duration,
    what: String,
}

static ARMED: Mutex<Option<HashMap<u64, Deadline>>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(0);
static WATCHING: Once = Once::new();

/// An armed deadline; dropping it disarms it.
#[must_use = "the deadline is disarmed when this is dropped"]
pub struct Armed(u64);

impl Drop for Armed {
    fn drop(&mut self) {
        if let Ok(mut armed) = ARMED.lock()
            && let Some(armed) = armed.as_mut()
        {
            armed.remove(&self.0);
        }
    }
}

/// Arms a deadline `within` from now for the operation `what` (named in the message).
pub fn arm(what: String, within: Duration) -> Armed {
    WATCHING.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("polyclip-collective-watchdog".into())
            .spawn(watch);
        if let Err(error) = spawned {
            eprintln!("polyclip: the collective's deadlines are not watched: {error}");
        }
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut armed) = ARMED.lock() {
        armed.get_or_insert_with(HashMap::new).insert(
            id,
            Deadline {
                at: Instant::now() + within,
                within,
                what,
            },
        );
    }
    Armed(id)
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let expired = ARMED.lock().ok().and_then(|armed| {
            armed.as_ref().and_then(|armed| {
                armed
                    .values()
                    .find(|deadline| Instant::now() >= deadline.at)
                    .map(|deadline| (deadline.within, deadline.what.clone()))
            })
        });
        if let Some((within, what)) = expired {
            eprintln!(
                "error: {what}: no answer from the other nodes in {} s (--collective-timeout): a node stopped, froze or cannot be reached; once every node is back, start them again with --resume",
                within.as_secs()
            );
            std::process::exit(1);
        }
    }
}
