//! Projection heads from a text tower's pooled state into the joint embedding space.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::init::Initializer;

/// open_clip's `proj_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionType {
    /// One `Linear` (CLIP's `text_projection`, VisionTextDualEncoder, M-CLIP's `LinearTransformation`).
    Linear,
    /// `Linear(d → (d+e)/2) → GELU → Linear(→ e)` (open_clip HF towers: `text.proj.0`, `text.proj.2`).
    Mlp,
    /// A distilled student's `Linear` into its teacher's pre-projection space, then the teacher's own
    /// `text_projection` (Themo: mean-pooled BERT → bias-free Linear → CLIP ViT-L/14's text projection).
    Distilled,
}

/// `proj.0 → GELU → proj.2` (the indices of open_clip's `nn.Sequential`).
#[derive(Module, Debug)]
pub struct MlpProjection<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

/// `student` (into the teacher's width) then `teacher` (the teacher's projection, no bias).
#[derive(Module, Debug)]
pub struct DistilledProjection<B: Backend> {
    pub student: Linear<B>,
    pub teacher: Linear<B>,
}

/// A projection head (one per model: the variants' size difference does not matter).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ProjectionHead<B: Backend> {
    Linear(Linear<B>),
    Mlp(MlpProjection<B>),
    Distilled(DistilledProjection<B>),
}

impl<B: Backend> ProjectionHead<B> {
    /// A head from `d_in` to `d_out`, with or without biases; `teacher_width` sizes a distilled student's output.
    pub fn init(
        kind: ProjectionType,
        d_in: usize,
        d_out: usize,
        bias: bool,
        teacher_width: usize,
        init: &mut Initializer<B>,
    ) -> Self {
        let std = (d_in as f64).powf(-0.5);
        match kind {
            ProjectionType::Linear => Self::Linear(init.linear(d_in, d_out, bias, std)),
            ProjectionType::Mlp => {
                let hidden = (d_in + d_out) / 2;
                Self::Mlp(MlpProjection {
                    fc1: init.linear(d_in, hidden, bias, std),
                    fc2: init.linear(hidden, d_out, bias, (hidden as f64).powf(-0.5)),
                })
            }
            ProjectionType::Distilled => Self::Distilled(DistilledProjection {
                student: init.linear(d_in, teacher_width, bias, std),
                teacher: init.linear(
                    teacher_width,
                    d_out,
                    false,
                    (teacher_width as f64).powf(-0.5),
                ),
            }),
        }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            Self::Linear(linear) => linear.forward(x),
            Self::Mlp(mlp) => mlp
                .fc2
                .forward(Activation::Gelu.forward(mlp.fc1.forward(x))),
            Self::Distilled(head) => head.teacher.forward(head.student.forward(x)),
        }
    }
}
