//! Weights out and in: a model as `.safetensors`, and a file loaded into a model.

use super::*;

impl Engine {
    pub fn export(&self, index: usize) -> Result<FromWorker, WorkerError> {
        let model = self
            .models()
            .get(index)
            .copied()
            .ok_or(WorkerError::NoModel(index))?;
        let bytes = weights::save(model)?;
        Ok(FromWorker::Weights { index, bytes })
    }

    /// Replaces model `index` by the one in a `.safetensors` file; stops a run in progress.
    pub fn import(&mut self, index: usize, bytes: &[u8]) -> Result<FromWorker, WorkerError> {
        let model = weights::load(bytes)?;
        let mut models: Vec<Model> = self.models().into_iter().cloned().collect();
        if index >= models.len() {
            return Err(WorkerError::NoModel(index));
        }
        let spec = model.spec.clone();
        models[index] = model;
        self.run = None;
        self.runs += 1;
        self.shift = None;
        if matches!(self.state, Some(RunState::Training | RunState::Paused)) {
            self.state = Some(RunState::Stopped);
        }
        self.models = models;
        self.trained = true;
        Ok(FromWorker::Imported { index, spec })
    }
}
