//! Choosing the compute backend at run time.
//!
//! Training and evaluation code is written once as a [`BackendJob`] generic over `B: AutodiffBackend`;
//! [`run_job`] instantiates it for the backend named by `--backend`: `ndarray` and `flex` (always built), `cuda`
//! (feature `cuda`) or `tch` (feature `tch`, LibTorch on its first GPU when one is usable, else its CPU).
//!
//! [`every_backend_test!`] instantiates a generic test once per backend compiled in, so a backend that computes
//! something else (or learns nothing) fails a named test.

#[cfg(feature = "mimalloc")]
mod allocator;
mod cpu;
mod devices;
mod test_macro;

pub use cpu::cpu_kernels;
pub use devices::{DeviceList, DeviceListError};

/// The backends by their burn types, for code (and [`every_backend_test!`]) that names one.
pub mod backends {
    pub use burn::backend::Autodiff;
    #[cfg(feature = "tch")]
    pub use burn::backend::libtorch::{LibTorch, LibTorchDevice};
    pub use burn::backend::ndarray::{NdArray, NdArrayDevice};
    #[cfg(feature = "cuda")]
    pub use burn::backend::{Cuda, cuda::CudaDevice};
    pub use burn::tensor::backend::{AutodiffBackend, Backend};
    pub use burn_flex::{Flex, FlexDevice};
}

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::backend::AutodiffBackend;
use burn_flex::{Flex, FlexDevice};

/// The `--backend` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// CPU, pure Rust (matrixmultiply), bit-deterministic whatever the thread count: the reference of the tests.
    Ndarray,
    /// CPU, pure Rust, gemm with AVX-512/AVX2 kernels picked at run time, deterministic for a fixed thread count:
    /// the default, for training (the main job) and inference.
    Flex,
    /// NVIDIA GPUs through CubeCL (build with `--features cuda`).
    Cuda,
    /// LibTorch (build with `--features tch`; see ci/tch.sh).
    Tch,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ndarray => "ndarray",
            Self::Flex => "flex",
            Self::Cuda => "cuda",
            Self::Tch => "tch",
        })
    }
}

/// Why a backend cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend `{0}` is not compiled into this binary; rebuild with `--features {0}` (e.g. `cargo run --release -p recipes --features {0} --bin capivara -- --backend {0}`)"
    )]
    NotCompiled(BackendKind),
    #[error("backend `cuda` cannot start: {0}")]
    CudaUnavailable(String),
}

/// Work generic over the backend, run by [`run_job`].
pub trait BackendJob {
    type Output;
    /// Runs on backend `B` (an autodiff backend; use `B::InnerBackend` for inference-only work).
    fn run<B: AutodiffBackend>(self, device: B::Device, backend: BackendKind) -> Self::Output;
}

/// Runs `job` on the backend `kind`.
pub fn run_job<J: BackendJob>(kind: BackendKind, job: J) -> Result<J::Output, BackendError> {
    run_job_with(kind, GradientCheckpointing::Off, job)
}

/// Whether the autodiff graph keeps every activation for the backward pass (`Off`) or recomputes the cheap
/// (memory-bound) ones instead of keeping them (`Balanced`: burn's `BalancedCheckpointing`, what gradient
/// checkpointing buys in PyTorch; CAPIVARA + Opt. trains with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradientCheckpointing {
    #[default]
    Off,
    Balanced,
}

/// [`run_job`] with a gradient-checkpointing strategy.
pub fn run_job_with<J: BackendJob>(
    kind: BackendKind,
    checkpointing: GradientCheckpointing,
    job: J,
) -> Result<J::Output, BackendError> {
    match checkpointing {
        GradientCheckpointing::Off => run_with_strategy::<J, NoCheckpointing>(kind, job),
        GradientCheckpointing::Balanced => run_with_strategy::<J, BalancedCheckpointing>(kind, job),
    }
}

fn run_with_strategy<J: BackendJob, C: CheckpointStrategy>(
    kind: BackendKind,
    job: J,
) -> Result<J::Output, BackendError> {
    #[cfg(feature = "mimalloc")]
    allocator::keep_freed_pages();
    match kind {
        BackendKind::Ndarray => Ok(job.run::<Autodiff<NdArray<f32>, C>>(NdArrayDevice::Cpu, kind)),
        BackendKind::Flex => Ok(job.run::<Autodiff<Flex<f32>, C>>(FlexDevice, kind)),
        BackendKind::Cuda => run_cuda::<J, C>(job),
        BackendKind::Tch => run_tch::<J, C>(job),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<J: BackendJob, C: CheckpointStrategy>(job: J) -> Result<J::Output, BackendError> {
    use burn::backend::Cuda;
    use burn::backend::cuda::CudaDevice;
    let device = CudaDevice::default();
    probe_cuda(&device)?;
    Ok(job.run::<Autodiff<Cuda, C>>(device, BackendKind::Cuda))
}

/// Checks that the driver library loads, then touches the device once. cudarc panics (on cubecl's server thread)
/// when a library is missing; the first panic message of any thread is kept and reported in one line.
#[cfg(feature = "cuda")]
fn probe_cuda(device: &burn::backend::cuda::CudaDevice) -> Result<(), BackendError> {
    use std::sync::{Arc, Mutex};

    use burn::backend::Cuda;
    use burn::tensor::Tensor;

    let driver_found = ["libcuda.so.1", "libcuda.so"].iter().any(|name| {
        // SAFETY: loading the NVIDIA driver library runs only its initialisers, as cudarc itself does.
        unsafe { libloading::Library::new(name) }.is_ok()
    });
    if !driver_found {
        return Err(BackendError::CudaUnavailable(
            "the NVIDIA driver library (libcuda.so.1) is not installed on this machine".into(),
        ));
    }
    let first_panic: Arc<Mutex<Option<String>>> = Arc::default();
    let recorder = first_panic.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut slot) = recorder.lock() {
            slot.get_or_insert_with(|| info.to_string());
        }
    }));
    let probe = std::panic::catch_unwind(|| {
        Tensor::<Cuda, 1>::ones([1], device).into_data();
    });
    std::panic::set_hook(previous);
    if probe.is_ok() {
        return Ok(());
    }
    let message = first_panic
        .lock()
        .ok()
        .and_then(|slot| slot.clone())
        .unwrap_or_else(|| "unknown error".into());
    let message = message
        .lines()
        .filter(|l| !l.trim().is_empty())
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Err(BackendError::CudaUnavailable(format!(
        "{message} (is a GPU visible, with NVRTC installed?)"
    )))
}

#[cfg(not(feature = "cuda"))]
#[allow(clippy::extra_unused_type_parameters)] // the same signature as with the feature
fn run_cuda<J: BackendJob, C: CheckpointStrategy>(_job: J) -> Result<J::Output, BackendError> {
    Err(BackendError::NotCompiled(BackendKind::Cuda))
}

#[cfg(feature = "tch")]
fn run_tch<J: BackendJob, C: CheckpointStrategy>(job: J) -> Result<J::Output, BackendError> {
    use burn::backend::LibTorch;
    use burn::backend::libtorch::LibTorchDevice;
    let device = if tch::Cuda::is_available() {
        LibTorchDevice::Cuda(0)
    } else {
        LibTorchDevice::Cpu
    };
    Ok(job.run::<Autodiff<LibTorch<f32>, C>>(device, BackendKind::Tch))
}

#[cfg(not(feature = "tch"))]
#[allow(clippy::extra_unused_type_parameters)] // the same signature as with the feature
fn run_tch<J: BackendJob, C: CheckpointStrategy>(_job: J) -> Result<J::Output, BackendError> {
    Err(BackendError::NotCompiled(BackendKind::Tch))
}
