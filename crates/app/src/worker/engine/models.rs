//! The models as they are now: predictions and feature maps of a drawing, random test digits.

use super::*;

impl Engine {
    /// The current models: the CPU run's, or the prepared, imported or read-back ones.
    pub(super) fn models(&self) -> Vec<&Model> {
        match &self.run {
            Some(RunSlot::Cpu(run)) => run.models(),
            _ => self.models.iter().collect(),
        }
    }

    pub(super) fn model_mut(&mut self, i: usize) -> Option<&mut Model> {
        match &mut self.run {
            Some(RunSlot::Cpu(run)) => run.model_mut(i),
            _ => self.models.get_mut(i),
        }
    }

    /// `f` applied to every current model, in order.
    pub(super) fn each_model<T>(&mut self, mut f: impl FnMut(usize, &mut Model) -> T) -> Vec<T> {
        let n = self.models().len();
        (0..n)
            .filter_map(|i| self.model_mut(i).map(|m| f(i, m)))
            .collect()
    }

    /// Each model's class probabilities for `image`.
    pub fn predict(&mut self, image: &Image) -> FromWorker {
        let probs: Result<Vec<Vec<f32>>, _> = self
            .each_model(|_, m| inspect::predict(m, image))
            .into_iter()
            .collect();
        match probs {
            Ok(p) => FromWorker::Prediction(p),
            Err(e) => FromWorker::Error(format!("prediction: {e}")),
        }
    }

    pub fn inspect(&mut self, image: &Image) -> FromWorker {
        let maps: Result<Vec<_>, _> = self
            .each_model(|i, m| inspect::inspect(m, i, image))
            .into_iter()
            .collect();
        match maps {
            Ok(m) => FromWorker::Inspected(m),
            Err(e) => FromWorker::Error(format!("inspect: {e}")),
        }
    }

    /// A random test image (seeded per worker, so it differs from visit to visit).
    pub fn random_digit(&mut self, seed: u64) -> Result<FromWorker, WorkerError> {
        let test = &self.data.as_ref().ok_or(WorkerError::NoData)?.test;
        let rng = self.rng.get_or_insert_with(|| Rng::new(seed));
        let i = (rng.next_u64() % test.len() as u64) as usize;
        Ok(FromWorker::Digit {
            image: Image {
                side: Dataset::SIDE,
                pixels: test.image(i).iter().map(|&b| b as f32 / 255.0).collect(),
            },
            label: test.label(i),
        })
    }
}
