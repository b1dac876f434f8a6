//! The non-finite guard: one reduction over every parameter (`Σ 0·x`, which is 0 for finite values and NaN as
//! soon as one value is NaN or infinite, without the overflow a plain sum could have) says whether the model is
//! still finite; when it is not, a second pass names the first parameter that is not. The trainer runs it
//! whenever a step's model can leave the loop (checkpoint, validation, end) and after every step under
//! `nan_policy = "skip-step"`, so a model with NaN or infinite weights is never checkpointed, saved or
//! evaluated.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};

/// Whether every parameter value of `module` is finite (one device round-trip).
pub fn all_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    struct Sum<B: Backend>(Option<Tensor<B, 1>>);
    impl<B: Backend> ModuleVisitor<B> for Sum<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let zeroed = param.val().mul_scalar(0.0).sum();
            self.0 = Some(match self.0.take() {
                Some(total) => total + zeroed,
                None => zeroed,
            });
        }
    }
    let mut sum = Sum(None);
    module.visit(&mut sum);
    sum.0
        .is_none_or(|total| total.into_scalar().elem::<f32>().is_finite())
}

/// The path (`text.proj.weight`) of the first parameter of `module` holding a NaN or an infinity.
pub fn first_non_finite<B: Backend, M: Module<B>>(module: &M) -> Option<String> {
    struct Find {
        path: Vec<String>,
        found: Option<String>,
    }
    impl<B: Backend> ModuleVisitor<B> for Find {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_owned());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.found.is_some() {
                return;
            }
            let zeroed: f32 = param.val().mul_scalar(0.0).sum().into_scalar().elem();
            if !zeroed.is_finite() {
                // Enum variants (`Encoder` of `TextTower`) are entered as modules too; the checkpoint key path
                // (`text.transformer.…`) has only the fields.
                let fields: Vec<&str> = self
                    .path
                    .iter()
                    .map(String::as_str)
                    .filter(|segment| !segment.starts_with(|c: char| c.is_ascii_uppercase()))
                    .collect();
                self.found = Some(fields.join("."));
            }
        }
    }
    let mut find = Find {
        path: Vec::new(),
        found: None,
    };
    module.visit(&mut find);
    find.found
}
