//! The picture files under a folder, recursively, as torchvision's `ImageFolder` finds a class's images:
//! `sorted(os.walk(folder, followlinks=True))`, each folder's files sorted by name, kept when their extension is a
//! picture format polyclip decodes ([`crate::preprocess::IMAGE_EXTENSIONS`], any case).
//!
//! Where it differs from torchvision, on purpose or by the formats polyclip reads:
//! - the formats are polyclip's (JPEG, PNG, WebP, GIF), not torchvision's list (which has no GIF, and BMP, PPM,
//!   PGM and TIFF), and a file named only `.jpg` has no extension here;
//! - symbolic links to folders are followed, as torchvision follows them, but a link back to a folder that is
//!   already being walked (a loop, where `os.walk` would descend until the path is too long) is not entered: every
//!   file is still reached once by the path without the loop;
//! - a folder that cannot be read is an error naming it, where `os.walk` skips it without a word (a benchmark
//!   that silently misses a folder gives a wrong figure);
//! - names that are not UTF-8 sort by their bytes, where Python sorts the surrogates it decodes them to (UTF-8
//!   names sort alike).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// The picture files under `dir` in torchvision's order: folders sorted by their whole path (as Python sorts
/// strings), the files of each sorted by name, a folder's own files before those of its sub-folders.
pub fn picture_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut folders = Vec::new();
    walk(dir, &mut Vec::new(), &mut folders)?;
    // `sorted(os.walk(...))` sorts the (folder, sub-folders, files) tuples by the folder's path string.
    folders.sort_by(|(a, _), (b, _)| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(folders.into_iter().flat_map(|(_, files)| files).collect())
}

fn walk(
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    folders: &mut Vec<(PathBuf, Vec<PathBuf>)>,
) -> Result<(), DataError> {
    let real = std::fs::canonicalize(dir).map_err(|e| DataError::io(dir, e))?;
    if ancestors.contains(&real) {
        return Ok(());
    }
    let mut entries: Vec<(OsString, std::fs::FileType)> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|entry| {
            let entry = entry.map_err(|e| DataError::io(dir, e))?;
            let kind = entry.file_type().map_err(|e| DataError::io(dir, e))?;
            Ok((entry.file_name(), kind))
        })
        .collect::<Result<_, DataError>>()?;
    entries.sort_by(|(a, _), (b, _)| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let mut files = Vec::new();
    let mut sub_folders = Vec::new();
    for (name, kind) in entries {
        let path = dir.join(&name);
        // As os.walk: a link counts as a folder when it leads to one (one more `stat`, for links only); a dangling
        // link is not a folder and is listed as a file, kept if its name is a picture's (decoding it then fails,
        // naming it).
        let is_folder = kind.is_dir() || (kind.is_symlink() && path.is_dir());
        if is_folder {
            sub_folders.push(path);
        } else if is_picture(&path) {
            files.push(path);
        }
    }
    folders.push((dir.to_owned(), files));
    ancestors.push(real);
    for sub in sub_folders {
        walk(&sub, ancestors, folders)?;
    }
    ancestors.pop();
    Ok(())
}

/// Whether a path's extension is a picture format polyclip decodes.
pub fn is_picture(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(crate::preprocess::is_image_extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, b"").unwrap();
    }

    fn names(root: &Path, files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn folders_are_walked_in_torchvisions_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "z.jpg",
            "a/2.PNG",
            "a/1.jpeg",
            "a/b/x.webp",
            "a-b/y.gif",
            "a/notes.txt",
            "c.JPG",
        ] {
            touch(&root.join(name));
        }
        // Python's sorted(os.walk(root)): root, root/a, root/a-b, root/a/b ("a-b" sorts before "a/b": '-' < '/').
        assert_eq!(
            names(root, &picture_files(root).unwrap()),
            [
                "c.JPG",
                "z.jpg",
                "a/1.jpeg",
                "a/2.PNG",
                "a-b/y.gif",
                "a/b/x.webp"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_folder_is_followed_and_a_loop_is_not_entered() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        touch(&root.join("a/1.png"));
        touch(&dir.path().join("elsewhere/2.png"));
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), root.join("linked")).unwrap();
        // A loop: root/a/up → root.
        std::os::unix::fs::symlink(&root, root.join("a/up")).unwrap();
        assert_eq!(
            names(&root, &picture_files(&root).unwrap()),
            ["a/1.png", "linked/2.png"]
        );
    }
}
