//! `hf:ORG/NAME`: a model on the Hugging Face Hub, fetched into the standard HF cache (`HF_HOME`,
//! `HF_HUB_CACHE`, default `~/.cache/huggingface/hub`) when online, read from that cache when offline
//! (`HF_HUB_OFFLINE=1`, or when the Hub cannot be reached), and otherwise refused with what to download where.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiError;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::CheckpointError;

/// The files a checkpoint folder may need, by layout.
const WANTED: &[&str] = &[
    "config.json",
    "open_clip_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "tokenizer.json",
    // Where the special tokens (the pad token) are named, and WordPiece checkpoints' vocabulary.
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// A local folder, or the cache snapshot of `hf:ORG/NAME[@REVISION]` (downloaded when needed and possible).
pub fn resolve(model: &str) -> Result<PathBuf, CheckpointError> {
    let Some(repo_id) = model.strip_prefix("hf:") else {
        return Ok(PathBuf::from(model));
    };
    let (repo_id, revision) = match repo_id.split_once('@') {
        Some((id, revision)) => (id, revision.to_string()),
        None => (repo_id, "main".to_string()),
    };
    let cache = match std::env::var_os("HF_HUB_CACHE") {
        Some(path) => Cache::new(PathBuf::from(path)),
        None => Cache::from_env(),
    };
    let offline =
        std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if !offline && let Err(reason) = download(repo_id, &revision, &cache) {
        // Fall through to the cache: a machine without network may still hold the files.
        if cached_snapshot(cache.path(), repo_id, &revision).is_none() {
            return Err(missing(
                repo_id,
                cache.path(),
                &format!("download failed ({reason}); "),
            ));
        }
    }
    cached_snapshot(cache.path(), repo_id, &revision)
        .ok_or_else(|| missing(repo_id, cache.path(), ""))
}

fn missing(repo_id: &str, cache: &Path, prefix: &str) -> CheckpointError {
    CheckpointError::Hub {
        repo: repo_id.into(),
        reason: format!(
            "{prefix}not in the Hugging Face cache {}: download it there first, e.g. `huggingface-cli download \
             {repo_id}` on a machine with network, then copy the cache (or set HF_HOME)",
            cache.display()
        ),
    }
}

/// Fetches the files a checkpoint needs (safetensors preferred over pickles).
fn download(repo_id: &str, revision: &str, cache: &Cache) -> Result<(), ApiError> {
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
        .with_progress(true)
        .build()?;
    let repo = api.repo(Repo::with_revision(
        repo_id.into(),
        RepoType::Model,
        revision.into(),
    ));
    let info = repo.info()?;
    let present: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    let has = |name: &str| present.contains(&name);
    for name in WANTED {
        let redundant = (*name == "pytorch_model.bin"
            && (has("model.safetensors") || has("model.safetensors.index.json")))
            || (*name == "open_clip_pytorch_model.bin" && has("open_clip_model.safetensors"));
        if has(name) && !redundant {
            repo.get(name)?;
        }
    }
    if has("model.safetensors.index.json") {
        for shard in present
            .iter()
            .filter(|n| n.starts_with("model-") && n.ends_with(".safetensors"))
        {
            repo.get(shard)?;
        }
    }
    for ckpt in present.iter().filter(|n| n.ends_with(".ckpt")) {
        repo.get(ckpt)?;
    }
    Ok(())
}

/// `cache/models--ORG--NAME/snapshots/<commit of refs/REVISION>` when present.
pub fn cached_snapshot(cache: &Path, repo_id: &str, revision: &str) -> Option<PathBuf> {
    let folder = cache.join(format!("models--{}", repo_id.replace('/', "--")));
    let commit = std::fs::read_to_string(folder.join("refs").join(revision))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    let snapshot = folder.join("snapshots").join(commit);
    snapshot.is_dir().then_some(snapshot)
}
