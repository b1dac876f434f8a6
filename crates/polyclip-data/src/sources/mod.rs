//! Where examples come from: manifests (JSONL/CSV/TSV) and their caption records, WebDataset shards and their
//! brace-expanded lists, labelled image folders and the picture files under a folder, retrieval test sets,
//! ImageNet class names and zero-shot classification sets, and where an example's image lives.

pub mod braces;
pub mod caption_record;
pub mod classification;
pub mod classnames;
pub mod data_spec;
pub mod image_folder;
pub mod image_reference;
pub mod image_source;
pub mod manifest;
pub mod picture_files;
pub mod retrieval_data;
pub mod webdataset;
