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

    /// Replaces model `index` by the one in a `.safetensors` file; stops a run in progress,
    /// whose other models keep the weights they trained to (on the GPU: the last read back).
    /// Answered with `Imported`, then `Run(Stopped)` when a run was stopped. A file that is
    /// not a model changes nothing: the run goes on.
    pub fn import(&mut self, index: usize, bytes: &[u8]) -> Result<Vec<FromWorker>, WorkerError> {
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
        let mut out = vec![FromWorker::Imported { index, spec }];
        if matches!(self.state, Some(RunState::Training | RunState::Paused)) {
            self.state = Some(RunState::Stopped);
            out.push(FromWorker::Run(RunState::Stopped));
        }
        self.models = models;
        self.trained = true;
        Ok(out)
    }
}
