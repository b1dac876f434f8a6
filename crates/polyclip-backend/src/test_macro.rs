//! [`every_backend_test!`]: one generic test, run on every backend compiled into the test binary.

/// For each `NAME`, a generic function `fn NAME<B: Backend>(device: &B::Device)` in scope, makes a module `NAME`
/// with one `#[test]` per backend compiled in: `NAME::ndarray` and `NAME::flex` always, `NAME::tch` with the
/// feature `tch` (LibTorch's CPU), `NAME::cuda` with `cuda`. Tests that train wrap the backend themselves
/// (`Autodiff<B>`).
///
/// ```ignore
/// fn adds<B: Backend>(device: &B::Device) {
///     let x = Tensor::<B, 1>::from_floats([2.0], device);
///     assert_eq!((x.clone() + x).into_scalar().elem::<f32>(), 4.0);
/// }
/// polyclip_backend::every_backend_test!(adds);
/// ```
#[macro_export]
macro_rules! every_backend_test {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn ndarray() {
                super::$name::<$crate::backends::NdArray<f32>>(&$crate::backends::NdArrayDevice::Cpu);
            }

            #[test]
            fn flex() {
                super::$name::<$crate::backends::Flex<f32>>(&$crate::backends::FlexDevice);
            }

            $crate::__tch_test_case!($name);
            $crate::__cuda_test_case!($name);
        }
    )+};
}

#[cfg(feature = "tch")]
#[doc(hidden)]
#[macro_export]
macro_rules! __tch_test_case {
    ($name:ident) => {
        #[test]
        fn tch() {
            super::$name::<$crate::backends::LibTorch<f32>>(&$crate::backends::LibTorchDevice::Cpu);
        }
    };
}

#[cfg(not(feature = "tch"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __tch_test_case {
    ($name:ident) => {};
}

#[cfg(feature = "cuda")]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_test_case {
    ($name:ident) => {
        #[test]
        fn cuda() {
            super::$name::<$crate::backends::Cuda>(&$crate::backends::CudaDevice::default());
        }
    };
}

#[cfg(not(feature = "cuda"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_test_case {
    ($name:ident) => {};
}
