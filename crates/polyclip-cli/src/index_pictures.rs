//! `polyclip index`: embeds a folder of pictures, a manifest or WebDataset shards into an index folder
//! (polyclip-index's layout). Resumable: pictures already in the index are skipped, so an interrupted run
//! continues and a folder that has grown is brought up to date by embedding only its new pictures; pictures
//! that are gone are dropped. Large indexes get an HNSW graph.

use std::path::Path;

use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};
use polyclip_checkpoints::hub::resolve;
use polyclip_data::sources::picture_files::picture_files;
use polyclip_data::{BadInputPolicy, ImageSource, Manifest, ReadOptions, image_reference};
use polyclip_index::ann::{AnnIndex, AnnParams};
use polyclip_index::store::ITEMS_FILE;
use polyclip_index::{IndexItem, IndexMeta, IndexStore, ModelIdentity, PictureRef, SearchMode};

use crate::ModelArgs;
use crate::error::CliError;
use crate::model::Encoder;

/// What `polyclip index` was asked.
pub struct IndexRequest<'a> {
    pub model: &'a ModelArgs,
    pub images: &'a str,
    pub out: &'a Path,
    pub policy: BadInputPolicy,
    pub search: SearchMode,
    /// `--shard-index`/`--num-shards`: this machine's part of the pictures.
    pub part: crate::parts::PartArgs,
}

/// A picture to index: where it is and its caption.
pub struct Picture {
    pub source: ImageSource,
    pub caption: Option<String>,
}

/// The pictures of a folder (recursively, in name order), a manifest or shards.
pub fn list_pictures(spec: &str, policy: BadInputPolicy) -> Result<Vec<Picture>, CliError> {
    let path = Path::new(spec);
    if path.is_dir() {
        // Links to folders are followed, loops are not entered (polyclip-data's picture_files).
        let mut files = picture_files(path)?;
        files.sort();
        return Ok(files
            .into_iter()
            .map(|file| Picture {
                source: ImageSource::File(file),
                caption: None,
            })
            .collect());
    }
    let manifest = Manifest::open(spec, &ReadOptions::new(policy, None))?;
    for problem in &manifest.skipped {
        eprintln!("skipped: {problem}");
    }
    Ok(manifest
        .entries
        .into_iter()
        .map(|entry| Picture {
            caption: entry.captions.into_iter().next(),
            source: entry.image,
        })
        .collect())
}

/// How the index names a picture: relative to the index folder.
pub fn picture_ref(source: &ImageSource, out: &Path) -> Result<PictureRef, CliError> {
    let anchor = out.join(ITEMS_FILE);
    // The index records names as JSON text: a name that is not UTF-8 is refused rather than stored mangled
    // (a lossy name would never find its picture again).
    let relative = |path: &Path| -> Result<String, CliError> {
        image_reference(&anchor, path)?
            .into_os_string()
            .into_string()
            .map_err(|_| {
                CliError::Usage(format!(
                    "{}: the index records where a picture is as UTF-8 text, and this name is not UTF-8 \
                     (rename the file or its folder)",
                    path.display()
                ))
            })
    };
    match source {
        ImageSource::File(path) => Ok(PictureRef::File {
            image: relative(path)?,
        }),
        ImageSource::TarMember {
            shard,
            member,
            offset,
            len,
        } => Ok(PictureRef::Member {
            shard: relative(shard)?,
            member: member.clone(),
            offset: *offset,
            len: *len,
        }),
        ImageSource::Bytes { name, .. } => Err(CliError::Usage(format!(
            "{name}: a streamed picture has no place on disk to index"
        ))),
    }
}

/// The picture an index row names, resolved against the index folder `index_dir`.
pub fn picture_source(picture: &PictureRef, index_dir: &Path) -> ImageSource {
    match picture {
        PictureRef::File { image } => ImageSource::File(index_dir.join(image)),
        PictureRef::Member {
            shard,
            member,
            offset,
            len,
        } => ImageSource::TarMember {
            shard: std::sync::Arc::new(index_dir.join(shard)),
            member: member.clone(),
            offset: *offset,
            len: *len,
        },
    }
}

/// The identity of the model that `args` names, as the index in `out` records it (a folder given relative to
/// the working directory is recorded relative to the index folder; an absolute one or `hf:` as given).
pub fn model_identity(args: &ModelArgs, out: &Path) -> Result<ModelIdentity, CliError> {
    let dir = resolve(&args.model)?;
    let mut identity = ModelIdentity::of(&dir, &args.model)?;
    let given = Path::new(&args.model);
    if given.is_relative() && given.is_dir() {
        let relative = image_reference(&out.join(ITEMS_FILE), &dir)?;
        identity.folder = Some(relative.to_string_lossy().into_owned());
    }
    Ok(identity)
}

/// Runs `polyclip index`; returns the number of pictures in the index.
pub fn index<B: Backend>(
    request: &IndexRequest<'_>,
    device: &B::Device,
) -> Result<usize, CliError> {
    let out = request.out;
    let identity = model_identity(request.model, out)?;
    let mut store = if IndexStore::exists(out) {
        let store = IndexStore::open(out)?;
        if let Some(reason) = store.meta.model.differs_from(&identity) {
            return Err(polyclip_index::IndexError::OtherModel {
                index: out.to_owned(),
                built_with: store.meta.model.path.clone(),
                asked: identity.path.clone(),
                asked_path: identity.path.clone(),
                reason,
            }
            .into());
        }
        Some(store)
    } else {
        None
    };
    let mut pictures = list_pictures(request.images, request.policy)?;
    let part = request.part.range(pictures.len())?;
    pictures.truncate(part.end);
    pictures.drain(..part.start);
    if pictures.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no pictures (a folder is searched for .{} files)",
            request.images,
            polyclip_data::preprocess::IMAGE_EXTENSIONS.join(", .")
        )));
    }
    let mut refs = Vec::with_capacity(pictures.len());
    let mut seen = std::collections::HashSet::new();
    let mut distinct = Vec::with_capacity(pictures.len());
    for picture in pictures {
        // A picture reached twice (through a link to a folder that is also walked directly) is one picture,
        // recorded under its real path.
        let reference = picture_ref(&picture.source, out)?;
        if seen.insert(reference.key()) {
            refs.push(reference);
            distinct.push(picture);
        }
    }
    let pictures = distinct;
    if let Some(store) = &mut store {
        let present: std::collections::HashSet<String> = refs.iter().map(PictureRef::key).collect();
        let dropped = store.retain(|item| present.contains(&item.picture.key()))?;
        if dropped > 0 {
            eprintln!(
                "polyclip: {dropped} pictures are gone from {}{} and were removed from the index",
                request.images,
                if request.part.num_shards.is_some() {
                    " (or are not in this part)"
                } else {
                    ""
                }
            );
        }
    }
    let todo: Vec<usize> = (0..pictures.len())
        .filter(|&i| store.as_ref().is_none_or(|s| !s.contains(&refs[i].key())))
        .collect();
    let encoder = Encoder::<B>::load(request.model, device)?;
    if !encoder.has_image_tower() {
        return Err(CliError::Usage(format!(
            "{} has no image tower to embed pictures with (pass --image-model for a text encoder)",
            encoder.dir().display()
        )));
    }
    if store.is_some() {
        eprintln!(
            "polyclip: {} holds {} of the {} pictures; embedding {}",
            out.display(),
            pictures.len() - todo.len(),
            pictures.len(),
            todo.len()
        );
    }
    let progress = ProgressBar::new(todo.len() as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "indexing {bar:40} {pos}/{len} pictures ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut skipped = 0;
    for chunk in todo.chunks(request.model.batch_size.max(1)) {
        let mut images = Vec::with_capacity(chunk.len());
        let mut items = Vec::with_capacity(chunk.len());
        for &i in chunk {
            match pictures[i].source.decode() {
                Ok(image) => {
                    images.push(image);
                    items.push(IndexItem {
                        picture: refs[i].clone(),
                        caption: pictures[i].caption.clone(),
                    });
                }
                Err(reason) => {
                    let message = format!("{}: cannot be decoded: {reason}", pictures[i].source);
                    if request.policy == BadInputPolicy::Fail {
                        return Err(CliError::Usage(format!(
                            "{message} (--skip-bad skips such pictures)"
                        )));
                    }
                    progress.println(format!("skipped: {message}"));
                    skipped += 1;
                }
            }
        }
        progress.inc(chunk.len() as u64);
        if images.is_empty() {
            continue;
        }
        let embeddings = encoder.embed_decoded(&images)?;
        let store = match &mut store {
            Some(store) => store,
            None => store.insert(IndexStore::open_or_create(
                out,
                IndexMeta::new(embeddings.dim, identity.clone(), request.images),
            )?),
        };
        store.append(&items, &embeddings.values)?;
        polyclip_train::failpoint::failpoint("index-chunk");
    }
    progress.finish_and_clear();
    let Some(store) = store else {
        return Err(CliError::Usage(format!(
            "{}: none of the pictures could be decoded",
            request.images
        )));
    };
    if skipped > 0 {
        eprintln!("polyclip: skipped {skipped} pictures that could not be decoded");
    }
    if request.search.wants_graph(store.len()) && !AnnIndex::is_current(out, store.len()) {
        let started = std::time::Instant::now();
        eprintln!(
            "polyclip: building the HNSW graph over {} pictures",
            store.len()
        );
        let graph = AnnIndex::build(store.embeddings(), store.meta.dim, AnnParams::default());
        graph.save(out)?;
        eprintln!(
            "polyclip: graph built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(store.len())
}
