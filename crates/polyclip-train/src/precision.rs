//! Mixed precision (`[stage.train] precision`): the weights and the optimiser's state stay f32 (the master copy);
//! each step runs the forward and backward passes of a half-precision copy of the weights. The loss (its softmax
//! included), every layer norm and every attention softmax are taken in f32, as PyTorch's autocast does for these
//! ops (`polyclip_models::layer_norm`, `polyclip_models::attention`). The half-precision gradients are cast to the
//! master weights' float type before the optimiser sees them; f16 steps also scale the loss ([`crate::loss_scale`]).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// The float type of a step's forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bfloat16 passes over f32 master weights (f32's range: no loss scaling needed).
    Bf16,
    /// float16 passes, with dynamic loss scaling (`[stage.train.loss_scale]`, [`crate::loss_scale`]).
    F16,
}

impl Precision {
    /// The float type of the passes.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
            Self::F16 => DType::F16,
        }
    }

    pub fn is_f32(&self) -> bool {
        *self == Self::F32
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            "f16" => Ok(Self::F16),
            other => Err(format!("`{other}`: expected f32, bf16 or f16")),
        }
    }
}

/// `tensor` widened to f32 when it is in a half type (bf16, f16); f32 and f64 stay as they are.
pub fn widen<B: burn::tensor::backend::Backend, const D: usize>(
    tensor: Tensor<B, D>,
) -> Tensor<B, D> {
    match tensor.dtype() {
        DType::BF16 | DType::F16 => tensor.cast(FloatDType::F32),
        _ => tensor,
    }
}

/// A copy of `model` whose weights are `dtype` leaves with the same parameter ids; the parameters that train are
/// tracked, the frozen ones are not.
pub fn half_copy<B: AutodiffBackend, M: Module<B>>(model: &M, dtype: DType) -> M {
    struct Narrow(DType);
    impl<B: AutodiffBackend> ModuleMapper<B> for Narrow {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let dtype = self.0;
            param.map(move |tensor| {
                let trains = tensor.is_require_grad();
                let narrow = Tensor::<B, D>::from_inner(tensor.inner().cast(dtype));
                if trains {
                    narrow.require_grad()
                } else {
                    narrow
                }
            })
        }
    }
    model.clone().map(&mut Narrow(dtype))
}

/// The gradients of a [`half_copy`]'s step in the float type of `model`'s master weights.
pub fn widen_gradients<B: AutodiffBackend, M: Module<B>>(
    mut grads: GradientsParams,
    model: &M,
) -> GradientsParams {
    struct Widen<'a>(&'a mut GradientsParams);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Widen<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.0.remove::<B::InnerBackend, D>(param.id) {
                let master = param.val().dtype();
                let grad = if grad.dtype() == master {
                    grad
                } else {
                    grad.cast(master)
                };
                self.0.register(param.id, grad);
            }
        }
    }
    model.visit(&mut Widen(&mut grads));
    grads
}
