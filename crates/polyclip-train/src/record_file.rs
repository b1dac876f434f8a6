//! Writing burn records (weights, optimiser state) to `.mpk` files: encoded in memory with burn's named
//! MessagePack recorder — the bytes its file recorder writes and `load_file` reads — then written with
//! `std::fs`, so a full disk, a permission error or a read-only file system is reported as such, with the path
//! (burn's file recorder says "error while writing multi-byte MessagePack value").

use std::path::Path;

use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::backend::Backend;

use crate::error::TrainError;

/// Writes `record` to `path` (the full file name, `.mpk` included), full precision.
pub fn write_record<B: Backend, R: Record<B>>(record: R, path: &Path) -> Result<(), TrainError> {
    let bytes = Recorder::<B>::record(
        &NamedMpkBytesRecorder::<FullPrecisionSettings>::new(),
        record,
        (),
    )
    .map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, bytes).map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use burn::backend::ndarray::{NdArray, NdArrayDevice};
    use burn::module::Module;
    use burn::nn::LinearConfig;

    use super::*;

    /// Linux's /dev/full fails every write with ENOSPC, as a full disk does.
    #[test]
    fn a_full_disk_is_named_with_the_path() {
        let linear = LinearConfig::new(4, 4).init::<NdArray>(&NdArrayDevice::Cpu);
        let error = write_record::<NdArray, _>(linear.into_record(), Path::new("/dev/full"))
            .expect_err("no space");
        assert_eq!(
            error.to_string(),
            "/dev/full: No space left on device (os error 28)"
        );
    }
}
