//! Named model sizes. Real checkpoints bring their own config.json; these serve tests, benchmarks and the
//! embedded default run.

use crate::activation::Activation;
use crate::bert::BertConfig;
use crate::captioner::{CaptionerConfig, CaptionerLayout};
use crate::clip::model::{ClipModelConfig, LogitScaleConfig};
use crate::clip::{ClipTextConfig, ClipVisionConfig};
use crate::mbart::MBartConfig;
use crate::pooling::Pooling;
use crate::projection::ProjectionType;
use crate::text_tower::TextTowerConfig;

/// A tiny XLM-R-style encoder text tower (mean pooling, MLP head), the shape of CAPIVARA's base model.
pub fn tiny_xlmr_text(
    vocab_size: usize,
    max_tokens: usize,
    pad_token_id: usize,
) -> TextTowerConfig {
    TextTowerConfig::HfEncoder {
        encoder_config: tiny_xlmr_encoder(vocab_size, max_tokens, pad_token_id),
        pooler_type: Pooling::Mean,
        proj_type: ProjectionType::Mlp,
        proj_bias: false,
        teacher_width: None,
    }
}

/// A tiny XLM-R encoder: width 64, two layers, four heads.
pub fn tiny_xlmr_encoder(vocab_size: usize, max_tokens: usize, pad_token_id: usize) -> BertConfig {
    BertConfig {
        model_type: "xlm-roberta".into(),
        vocab_size,
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 256,
        hidden_act: Activation::Gelu,
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        max_position_embeddings: max_tokens + pad_token_id + 1,
        type_vocab_size: 1,
        layer_norm_eps: 1e-5,
        initializer_range: 0.02,
        pad_token_id: Some(pad_token_id),
    }
}

/// A tiny CLIP vision transformer: `image_size` pixels in `patch_size` patches, width 64, two blocks.
pub fn tiny_vision(image_size: usize, patch_size: usize) -> ClipVisionConfig {
    ClipVisionConfig {
        hidden_size: 64,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        image_size,
        patch_size,
        hidden_act: Activation::Gelu,
        ..ClipVisionConfig::default()
    }
}

/// The tiny dual encoder of the embedded default: tiny ViT + tiny XLM-R tower, 64-d joint space.
pub fn tiny_capivara(
    vocab_size: usize,
    max_tokens: usize,
    pad_token_id: usize,
    image_size: usize,
) -> ClipModelConfig {
    ClipModelConfig {
        projection_dim: 64,
        vision_config: tiny_vision(image_size, 8),
        text: tiny_xlmr_text(vocab_size, max_tokens, pad_token_id),
        logit_scale: LogitScaleConfig::default(),
    }
}

/// The tiny dual encoder of the clip-italian recipe: tiny ViT + tiny BERT whose pooler output (CLS → dense →
/// tanh) goes through a bias-free linear projection (HF `VisionTextDualEncoder`), 64-d joint space, logit scale
/// fixed at 20.
pub fn tiny_clip_italian(
    vocab_size: usize,
    max_tokens: usize,
    pad_token_id: usize,
    image_size: usize,
) -> ClipModelConfig {
    let encoder_config = tiny_bert_encoder(vocab_size, max_tokens, pad_token_id);
    ClipModelConfig {
        projection_dim: 64,
        vision_config: tiny_vision(image_size, 8),
        text: TextTowerConfig::HfEncoder {
            encoder_config,
            pooler_type: Pooling::Pooler,
            proj_type: ProjectionType::Linear,
            proj_bias: false,
            teacher_width: None,
        },
        logit_scale: LogitScaleConfig {
            scale: 20.0,
            learnable: false,
        },
    }
}

/// A tiny BERT encoder (width 64, two layers, four heads, absolute positions, two token types).
pub fn tiny_bert_encoder(vocab_size: usize, max_tokens: usize, pad_token_id: usize) -> BertConfig {
    let mut encoder_config = tiny_xlmr_encoder(vocab_size, max_tokens, pad_token_id);
    encoder_config.model_type = "bert".into();
    encoder_config.max_position_embeddings = max_tokens;
    encoder_config.type_vocab_size = 2;
    encoder_config.layer_norm_eps = 1e-12;
    encoder_config
}

/// A tiny distilled text student (Themo, Multilingual-CLIP): a tiny BERT as
/// [`TextTowerConfig::distilled_student`].
pub fn tiny_student_text(
    vocab_size: usize,
    max_tokens: usize,
    pad_token_id: usize,
    teacher_width: Option<usize>,
) -> TextTowerConfig {
    TextTowerConfig::distilled_student(
        tiny_bert_encoder(vocab_size, max_tokens, pad_token_id),
        teacher_width,
    )
}

/// A tiny CLIP with its own causal text transformer (HF `CLIPModel` shape).
pub fn tiny_clip(
    vocab_size: usize,
    max_tokens: usize,
    eos_token_id: usize,
    image_size: usize,
) -> ClipModelConfig {
    ClipModelConfig {
        projection_dim: 64,
        vision_config: tiny_vision(image_size, 8),
        text: TextTowerConfig::Clip {
            text_config: ClipTextConfig {
                vocab_size,
                hidden_size: 64,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                max_position_embeddings: max_tokens,
                pad_token_id: 0,
                bos_token_id: 0,
                eos_token_id,
                ..ClipTextConfig::default()
            },
        },
        logit_scale: LogitScaleConfig::default(),
    }
}

/// open_clip `xlm-roberta-base-ViT-B-32` (CAPIVARA's base): ViT-B/32 (exact GELU) + XLM-R base, mean pooling,
/// MLP head 768→640→512. 366 M parameters.
pub fn vit_b32_xlm_roberta_base() -> ClipModelConfig {
    ClipModelConfig {
        projection_dim: 512,
        // ViT-B/32 with exact GELU.
        vision_config: ClipVisionConfig {
            hidden_act: Activation::Gelu,
            ..ClipVisionConfig::default()
        },
        text: TextTowerConfig::HfEncoder {
            encoder_config: BertConfig {
                model_type: "xlm-roberta".into(),
                vocab_size: 250_002,
                hidden_size: 768,
                num_hidden_layers: 12,
                num_attention_heads: 12,
                intermediate_size: 3072,
                hidden_act: Activation::Gelu,
                hidden_dropout_prob: 0.1,
                attention_probs_dropout_prob: 0.1,
                max_position_embeddings: 514,
                type_vocab_size: 1,
                layer_norm_eps: 1e-5,
                initializer_range: 0.02,
                pad_token_id: Some(1),
            },
            pooler_type: Pooling::Mean,
            proj_type: ProjectionType::Mlp,
            proj_bias: false,
            teacher_width: None,
        },
        logit_scale: LogitScaleConfig::default(),
    }
}

/// The tiny captioner of the embedded default, in CLIP-Vision-mBART50's layout: tiny ViT (width 64) → `visual_projection`
/// → a two-layer mBART decoder (width 64) with `final_logits_bias`.
pub fn tiny_captioner(vocab_size: usize, max_tokens: usize, image_size: usize) -> CaptionerConfig {
    CaptionerConfig {
        encoder: tiny_vision(image_size, 8),
        decoder: MBartConfig {
            vocab_size,
            d_model: 64,
            encoder_layers: 0,
            decoder_layers: 2,
            encoder_attention_heads: 4,
            decoder_attention_heads: 4,
            encoder_ffn_dim: 256,
            decoder_ffn_dim: 256,
            max_position_embeddings: max_tokens,
            activation_function: Activation::Gelu,
            dropout: 0.1,
            attention_dropout: 0.0,
            activation_dropout: 0.0,
            init_std: 0.02,
            scale_embedding: true,
            tie_word_embeddings: true,
            pad_token_id: 1,
            bos_token_id: 0,
            eos_token_id: 2,
            decoder_start_token_id: Some(2),
            forced_bos_token_id: None,
            forced_eos_token_id: Some(2),
        },
        layout: CaptionerLayout::ClipVisionMbart,
    }
}
