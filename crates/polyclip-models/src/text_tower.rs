//! The text side of a dual encoder: a CLIP causal text transformer, or a BERT/XLM-R encoder with pooling and
//! a projection head (open_clip's `HFTextEncoder`, VisionTextDualEncoder, M-CLIP).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::bert::{BertConfig, BertModel};
use crate::clip::{ClipTextConfig, ClipTextTransformer};
use crate::error::ModelError;
use crate::init::Initializer;
use crate::lora::{LoraLayers, LoraLinear};
use crate::pooling::{Pooling, first_token, masked_mean};
use crate::projection::{ProjectionHead, ProjectionType};

/// Which text tower, with its own config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextTowerConfig {
    /// CLIP's own text transformer, pooled at the end-of-text token, then `text_projection` (no bias).
    Clip { text_config: ClipTextConfig },
    /// A HF encoder (`transformer`), pooled, then projected (`proj`).
    HfEncoder {
        encoder_config: BertConfig,
        pooler_type: Pooling,
        proj_type: ProjectionType,
        #[serde(default)]
        proj_bias: bool,
        /// The teacher's text width, for `proj_type = "distilled"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teacher_width: Option<usize>,
    },
}

impl TextTowerConfig {
    /// A distilled text student (Themo, Multilingual-CLIP): `encoder_config`, mean pooling, then either a
    /// bias-free `Linear` into a teacher's pre-projection space of `teacher_width` followed by the teacher's
    /// projection (Themo), or, with no `teacher_width`, a `Linear` with bias straight into the joint space
    /// (M-CLIP).
    pub fn distilled_student(encoder_config: BertConfig, teacher_width: Option<usize>) -> Self {
        Self::HfEncoder {
            encoder_config,
            pooler_type: Pooling::Mean,
            proj_type: if teacher_width.is_some() {
                ProjectionType::Distilled
            } else {
                ProjectionType::Linear
            },
            proj_bias: teacher_width.is_none(),
            teacher_width,
        }
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            Self::Clip { text_config } => text_config.validate(),
            Self::HfEncoder {
                encoder_config,
                proj_type,
                teacher_width,
                ..
            } => {
                encoder_config.validate()?;
                match (proj_type, teacher_width) {
                    (ProjectionType::Distilled, None) => Err(ModelError::invalid(
                        "text.teacher_width",
                        "none",
                        "a distilled projection needs the teacher's text width",
                    )),
                    (ProjectionType::Linear | ProjectionType::Mlp, Some(width)) => {
                        Err(ModelError::invalid(
                            "text.teacher_width",
                            width,
                            "only a distilled projection has a teacher",
                        ))
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// The largest number of tokens the tower can take.
    pub fn max_tokens(&self) -> usize {
        match self {
            Self::Clip { text_config } => text_config.max_position_embeddings,
            Self::HfEncoder { encoder_config, .. } => {
                let offset = encoder_config.position_offset();
                encoder_config.max_position_embeddings - offset
            }
        }
    }
}

/// `text_model` + `text_projection` (HF `CLIPModel`).
#[derive(Module, Debug)]
pub struct ClipTextTower<B: Backend> {
    pub text_model: ClipTextTransformer<B>,
    pub text_projection: Linear<B>,
}

/// `transformer` + pooling + `proj` (open_clip `HFTextEncoder`).
#[derive(Module, Debug)]
pub struct EncoderTextTower<B: Backend> {
    pub transformer: BertModel<B>,
    pub proj: ProjectionHead<B>,
    #[module(skip)]
    pub pooling: Pooling,
}

/// A text tower (one per model: the variants' size difference does not matter).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TextTower<B: Backend> {
    Clip(ClipTextTower<B>),
    Encoder(EncoderTextTower<B>),
}

impl<B: Backend> TextTower<B> {
    pub fn init(config: &TextTowerConfig, embed_dim: usize, init: &mut Initializer<B>) -> Self {
        match config {
            TextTowerConfig::Clip { text_config } => {
                let d = text_config.hidden_size;
                Self::Clip(ClipTextTower {
                    text_model: ClipTextTransformer::init(text_config, init),
                    text_projection: init.linear(d, embed_dim, false, (d as f64).powf(-0.5)),
                })
            }
            TextTowerConfig::HfEncoder {
                encoder_config,
                pooler_type,
                proj_type,
                proj_bias,
                teacher_width,
            } => {
                let with_pooler = *pooler_type == Pooling::Pooler;
                Self::Encoder(EncoderTextTower {
                    transformer: BertModel::init(encoder_config, with_pooler, init),
                    proj: ProjectionHead::init(
                        *proj_type,
                        encoder_config.hidden_size,
                        embed_dim,
                        *proj_bias,
                        teacher_width.unwrap_or(encoder_config.hidden_size),
                        init,
                    ),
                    pooling: *pooler_type,
                })
            }
        }
    }

    /// `[batch, seq]` token ids and attention mask (1 = token) → `[batch, embed_dim]` (not normalised).
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let pooled = self.pre_projection_features(input_ids, attention_mask);
        match self {
            Self::Clip(tower) => tower.text_projection.forward(pooled),
            Self::Encoder(tower) => tower.proj.forward(pooled),
        }
    }

    /// The pooled state before the projection (`[batch, hidden]`): what a distilled student imitates (Themo:
    /// the teacher's `pooler_output`).
    pub fn pre_projection_features(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        match self {
            Self::Clip(tower) => tower.text_model.forward(input_ids).pooler_output,
            Self::Encoder(tower) => {
                let output = tower.transformer.forward(input_ids, attention_mask.clone());
                match (tower.pooling, output.pooler_output) {
                    (Pooling::Mean, _) => masked_mean(output.last_hidden_state, attention_mask),
                    (Pooling::Pooler, Some(pooled)) => pooled,
                    (Pooling::Cls | Pooling::Pooler, _) => first_token(output.last_hidden_state),
                }
            }
        }
    }

    /// What a distilled student is trained to output: for a [`ProjectionType::Distilled`] head the student's
    /// own linear map (into the teacher's pre-projection space, Themo), otherwise the whole tower (M-CLIP's
    /// student maps straight into the joint space).
    pub fn student_features(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        match self {
            Self::Encoder(tower) => {
                if let ProjectionHead::Distilled(head) = &tower.proj {
                    head.student
                        .forward(self.pre_projection_features(input_ids, attention_mask))
                } else {
                    self.forward(input_ids, attention_mask)
                }
            }
            Self::Clip(_) => self.forward(input_ids, attention_mask),
        }
    }

    /// The tower with its transformer frozen (no gradients), its pooling and projection still training
    /// (clip-italian's first stage; a Themo student whose encoder stays fixed).
    pub fn freeze_backbone(self) -> Self {
        match self {
            Self::Clip(mut tower) => {
                tower.text_model = tower.text_model.no_grad();
                Self::Clip(tower)
            }
            Self::Encoder(mut tower) => {
                tower.transformer = tower.transformer.no_grad();
                Self::Encoder(tower)
            }
        }
    }

    /// The tower's projection when it is one bias-free `Linear` (a teacher's projection a Themo student reuses).
    pub fn linear_projection(&self) -> Option<&Linear<B>> {
        match self {
            Self::Clip(tower) => Some(&tower.text_projection),
            Self::Encoder(tower) => match &tower.proj {
                ProjectionHead::Linear(linear) if linear.bias.is_none() => Some(linear),
                _ => None,
            },
        }
    }
}

impl<B: Backend> LoraLayers<B> for TextTower<B> {
    /// The encoder's layers under open_clip's names (`transformer.encoder.layer.{i}.attention.self.query`, …);
    /// a CLIP text transformer has none yet.
    fn lora_layers(&mut self) -> Vec<(String, &mut LoraLinear<B>)> {
        match self {
            Self::Clip(_) => Vec::new(),
            Self::Encoder(tower) => tower
                .transformer
                .lora_layers()
                .into_iter()
                .map(|(path, layer)| (format!("transformer.{path}"), layer))
                .collect(),
        }
    }
}
