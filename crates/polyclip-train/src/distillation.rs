//! A text encoder trained to imitate a teacher's text features (Themo, Multilingual-CLIP): the student tower
//! maps a sentence in its language onto the teacher's features of the parallel sentence, under mean squared
//! error.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_data::DistillBatch;
use polyclip_models::TextTower;

use crate::loss::mean_squared_error;
use crate::trainable::TrainableModel;
use crate::trainer::{FreezeConfig, TrainConfig};

/// The student: a text tower whose [`TextTower::student_features`] are trained.
#[derive(Module, Debug)]
pub struct TextStudent<B: Backend> {
    pub tower: TextTower<B>,
}

impl<B: AutodiffBackend> TrainableModel<B> for TextStudent<B> {
    type Batch = DistillBatch<B>;

    fn batch_len(batch: &DistillBatch<B>) -> usize {
        batch.indices.len()
    }

    /// `mean((student(sentence) − teacher(parallel sentence))²)` over rows and features, as `nn.MSELoss()`.
    fn loss(&self, batch: DistillBatch<B>, _config: &TrainConfig) -> Tensor<B, 1> {
        let predicted = self
            .tower
            .student_features(batch.input_ids, batch.attention_mask);
        mean_squared_error(predicted, batch.targets)
    }

    /// `text_backbone`: the encoder (only the student's linear map trains); `text`: everything (nothing would
    /// train).
    fn freeze(mut self, freeze: FreezeConfig) -> Self {
        self.tower = freeze.text_tower(self.tower);
        self
    }
}
