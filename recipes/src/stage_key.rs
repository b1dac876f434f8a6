//! A stage's reuse key: everything that determines its result (the resolved recipe of the stage and of the
//! stages before it, the data, the seed, the model config) plus the code that trains it (polyclip's version and
//! commit). `stage.json` in the stage's folder records it; a later run reuses the finished stage only when the
//! key is identical, and says why when it is not.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The code a stage was trained by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeVersion {
    pub version: String,
    /// The git commit the binary was built from (`unknown` outside a checkout).
    pub commit: String,
}

impl CodeVersion {
    /// This build's.
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: env!("POLYCLIP_COMMIT").to_owned(),
        }
    }
}

/// What `stage.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageKey {
    pub polyclip: CodeVersion,
    /// FNV-1a 64 of the canonical JSON of `key`, to name the configuration in one word.
    pub hash: String,
    pub key: Value,
}

/// Whether a finished stage can be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    Yes,
    /// No stage was finished there.
    Absent,
    /// Why not, in words.
    No(String),
}

impl StageKey {
    /// The key of a stage trained by this build.
    pub fn new(key: Value) -> Self {
        Self {
            polyclip: CodeVersion::current(),
            hash: format!("{:016x}", fnv1a(key.to_string().as_bytes())),
            key,
        }
    }

    /// Compares with the `stage.json` at `path`.
    // Values are compared as their JSON text: serialisation is canonical (sorted keys, shortest round-trip
    // floats), while serde_json's float parsing may differ from the written value in the last bit.
    #[allow(clippy::cmp_owned)]
    pub fn compare_with(&self, path: &Path) -> Reuse {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Reuse::Absent;
        };
        let saved: StageKey = match serde_json::from_str(&text) {
            Ok(saved) => saved,
            Err(_) => {
                return Reuse::No(format!(
                    "{} was written by an older polyclip without a code version",
                    path.display()
                ));
            }
        };
        if saved.polyclip != self.polyclip {
            return Reuse::No(format!(
                "trained by polyclip {} (commit {}), this is {} (commit {})",
                saved.polyclip.version,
                saved.polyclip.commit,
                self.polyclip.version,
                self.polyclip.commit
            ));
        }
        if saved.key.to_string() == self.key.to_string() {
            return Reuse::Yes;
        }
        let (at, there, here) = first_difference("", &saved.key, &self.key);
        Reuse::No(format!(
            "`{at}` differs: {there} there, {here} now (configuration {} vs {})",
            saved.hash, self.hash
        ))
    }
}

/// The first path (dotted) at which two JSON values differ (as text, see [`StageKey::compare_with`]), with both
/// values.
#[allow(clippy::cmp_owned)]
fn first_difference(at: &str, there: &Value, here: &Value) -> (String, String, String) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match (there, here) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get(key) {
                    Some(old) if old.to_string() == value.to_string() => {}
                    Some(old) => return first_difference(&join(key), old, value),
                    None => return (join(key), "absent".into(), value.to_string()),
                }
            }
            match a.keys().find(|key| !b.contains_key(*key)) {
                Some(key) => (join(key), a[key].to_string(), "absent".into()),
                None => (at.to_owned(), there.to_string(), here.to_string()),
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x.to_string() != y.to_string())
            .map_or_else(
                || (at.to_owned(), there.to_string(), here.to_string()),
                |(index, (x, y))| first_difference(&join(&index.to_string()), x, y),
            ),
        _ => (at.to_owned(), there.to_string(), here.to_string()),
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn saved(dir: &Path, key: &StageKey) -> std::path::PathBuf {
        let path = dir.join("stage.json");
        std::fs::write(&path, serde_json::to_string_pretty(key).expect("json")).expect("write");
        path
    }

    #[test]
    fn the_same_key_from_the_same_code_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = StageKey::new(json!({"stage": {"train": {"steps": 3}}}));
        assert_eq!(
            key.compare_with(&dir.path().join("stage.json")),
            Reuse::Absent
        );
        assert_eq!(key.compare_with(&saved(dir.path(), &key)), Reuse::Yes);
    }

    #[test]
    fn another_config_names_the_first_value_that_differs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = StageKey::new(json!({"seed": 0, "stage": {"train": {"steps": 3, "lr": 1e-3}}}));
        let new = StageKey::new(json!({"seed": 0, "stage": {"train": {"steps": 5, "lr": 1e-3}}}));
        let Reuse::No(why) = new.compare_with(&saved(dir.path(), &old)) else {
            panic!("reused");
        };
        assert!(
            why.starts_with("`stage.train.steps` differs: 3 there, 5 now (configuration "),
            "{why}"
        );
    }

    #[test]
    fn a_stage_trained_by_other_code_is_not_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = StageKey::new(json!({"seed": 0}));
        let mut old = key.clone();
        old.polyclip.commit = "0123456789ab".into();
        let Reuse::No(why) = key.compare_with(&saved(dir.path(), &old)) else {
            panic!("reused");
        };
        assert_eq!(
            why,
            format!(
                "trained by polyclip {v} (commit 0123456789ab), this is {v} (commit {c})",
                v = env!("CARGO_PKG_VERSION"),
                c = env!("POLYCLIP_COMMIT")
            )
        );
        // A stage.json from before code versions (the bare key) is not reused either.
        std::fs::write(dir.path().join("stage.json"), "{\"seed\": 0}").expect("write");
        assert!(matches!(
            key.compare_with(&dir.path().join("stage.json")),
            Reuse::No(why) if why.ends_with("without a code version")
        ));
    }
}
