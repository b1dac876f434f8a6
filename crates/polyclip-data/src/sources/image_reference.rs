//! How a manifest that polyclip writes refers to its images — one rule for every writer (the caption scorer,
//! `translate-manifest`, the embedded dataset): the path is written **relative to the manifest's own folder**,
//! which is how [`crate::sources::manifest`] resolves it when the manifest is read. A run folder can then be read from any
//! working directory and moved as a whole. Only when no relative path exists (another drive on Windows) is the
//! absolute path written.
//!
//! Both paths are made absolute against the working directory and their existing parts canonicalised first, so
//! `runs/x/scored/a.jsonl` and `runs/x/data/images/1.png` (as a user types them, relative) give
//! `../data/images/1.png`.

use std::path::{Component, Path, PathBuf};

use crate::error::DataError;

/// The path to write in the manifest `manifest` for the image file `image` (both as the caller has them:
/// relative to the working directory, or absolute). The manifest need not exist yet; its folder must.
pub fn image_reference(manifest: &Path, image: &Path) -> Result<PathBuf, DataError> {
    let folder = match manifest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let folder = resolved(folder)?;
    let image = resolved(image)?;
    Ok(relative_to(&image, &folder).unwrap_or(image))
}

/// `path` made absolute, canonical where it exists (symbolic links and `..` resolved by the file system).
fn resolved(path: &Path) -> Result<PathBuf, DataError> {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return Ok(canonical);
    }
    let absolute = std::path::absolute(path).map_err(|e| DataError::io(path, e))?;
    Ok(normalized(&absolute))
}

/// Removes `.` and resolves `..` lexically (for paths that do not exist yet).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `base` (both absolute and normalised), with `..` where `path` is outside `base`; `None`
/// when they share no root (another drive).
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let mut path_parts = path.components().peekable();
    let mut base_parts = base.components().peekable();
    match (path_parts.peek(), base_parts.peek()) {
        (Some(a), Some(b)) if a == b => {}
        _ => return None,
    }
    while let (Some(a), Some(b)) = (path_parts.peek(), base_parts.peek()) {
        if a != b {
            break;
        }
        path_parts.next();
        base_parts.next();
    }
    let mut relative = PathBuf::new();
    for _ in base_parts {
        relative.push("..");
    }
    relative.extend(path_parts);
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_beside_the_manifest_folder_is_reached_through_its_parent() {
        let base = Path::new("/runs/x/scored");
        assert_eq!(
            relative_to(Path::new("/runs/x/data/images/1.png"), base),
            Some(PathBuf::from("../data/images/1.png"))
        );
        assert_eq!(
            relative_to(Path::new("/runs/x/scored/images/1.png"), base),
            Some(PathBuf::from("images/1.png"))
        );
        assert_eq!(
            relative_to(Path::new("/elsewhere/1.png"), base),
            Some(PathBuf::from("../../../elsewhere/1.png"))
        );
    }

    #[test]
    fn paths_are_normalised_lexically_when_they_do_not_exist() {
        assert_eq!(
            normalized(Path::new("/a/./b/../c/1.png")),
            PathBuf::from("/a/c/1.png")
        );
    }

    #[test]
    fn the_reference_resolves_against_the_manifest_folder_to_the_same_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path().join("data/images");
        std::fs::create_dir_all(&images).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("scored")).expect("mkdir");
        let image = images.join("000000.png");
        std::fs::write(&image, b"png").expect("write");
        let manifest = dir.path().join("scored/train.jsonl");
        let reference = image_reference(&manifest, &image).expect("reference");
        assert_eq!(reference, PathBuf::from("../data/images/000000.png"));
        let resolved = dir.path().join("scored").join(&reference);
        assert_eq!(
            std::fs::canonicalize(resolved).expect("exists"),
            std::fs::canonicalize(&image).expect("exists")
        );
    }
}
