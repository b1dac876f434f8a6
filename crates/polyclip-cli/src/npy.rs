//! Writing `float32` matrices as NumPy `.npy` files (format version 1.0).

use std::io::Write;
use std::path::Path;

use crate::error::CliError;

/// Writes `values` (row-major `[rows, cols]`) to `path`.
pub fn write_npy(path: &Path, values: &[f32], rows: usize, cols: usize) -> Result<(), CliError> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::File::create(path)
        .and_then(|mut file| file.write_all(&bytes))
        .map_err(|source| CliError::Io {
            path: path.to_owned(),
            source,
        })
}
