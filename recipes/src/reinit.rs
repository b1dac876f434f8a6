//! Drawing parts of a dual encoder afresh before a stage (clip-italian: a new text projection on pretrained
//! backbones; a new language's text tower).

use burn::tensor::backend::Backend;
use polyclip_models::{ClipModel, TextTower};

use crate::config::ModelPart;
use crate::error::RecipeError;

/// Replaces the `parts` of `model` by those of `fresh` (a model of the same config drawn from another seed).
pub fn reinitialize<B: Backend>(
    mut model: ClipModel<B>,
    fresh: ClipModel<B>,
    parts: &[ModelPart],
) -> Result<ClipModel<B>, RecipeError> {
    let ClipModel {
        vision: fresh_vision,
        text: fresh_text,
        ..
    } = fresh;
    let mut fresh_text = Some(fresh_text);
    for part in parts {
        match part {
            ModelPart::VisionProjection => {
                model.vision.visual_projection = fresh_vision.visual_projection.clone();
            }
            ModelPart::Text => {
                if let Some(text) = fresh_text.take() {
                    model.text = text;
                }
            }
            ModelPart::TextProjection => {
                let Some(text) = fresh_text.as_ref() else {
                    continue; // the whole tower is new already
                };
                model.text = match (model.text, text) {
                    (TextTower::Clip(mut tower), TextTower::Clip(new)) => {
                        tower.text_projection = new.text_projection.clone();
                        TextTower::Clip(tower)
                    }
                    (TextTower::Encoder(mut tower), TextTower::Encoder(new)) => {
                        tower.proj = new.proj.clone();
                        TextTower::Encoder(tower)
                    }
                    _ => {
                        return Err(RecipeError::Invalid {
                            key: "stage.reinit",
                            value: "text_projection".into(),
                            reason: "the model's text tower differs from the recipe's model preset"
                                .into(),
                        });
                    }
                };
            }
        }
    }
    Ok(model)
}
