//! The one way a run tells the user what it is doing: a line on stderr, prefixed `polyclip:`.

/// A line on stderr, prefixed as every message of a run.
pub fn announce(message: &str) {
    eprintln!("polyclip: {message}");
}
