//! Accuracy-by-shift maps, computed a few test batches at a time between other work.

use super::*;
use convplay_compute::backend::now;

/// Test images per unit of shift-map work: a cell is evaluated a few batches at a time, so the
/// worker answers predictions in between.
const SHIFT_BATCH: usize = 25;

/// A shift-map computation in progress: cell `next` (model, dx, dy) is being evaluated.
pub(super) struct ShiftJob {
    maps: Vec<ShiftMap>,
    images: Dataset,
    next: usize,
    cell: Option<Evaluator>,
    /// The buffers the CPU's forward reuses from batch to batch.
    scratch: ShardScratch,
}

impl ShiftJob {
    pub(super) fn cells_per_map(&self) -> usize {
        self.maps.first().map_or(0, |m| m.accuracy.len())
    }

    pub(super) fn total(&self) -> usize {
        self.cells_per_map() * self.maps.len()
    }
}

impl Engine {
    /// Starts computing every model's accuracy-by-shift map over the first `images` test images.
    pub fn start_shift_maps(
        &mut self,
        step: usize,
        images: usize,
    ) -> Result<FromWorker, WorkerError> {
        let test = &self.data.as_ref().ok_or(WorkerError::NoData)?.test;
        if self.models().is_empty() {
            return Err(WorkerError::NothingToMap);
        }
        let images = test.subset(images.max(1));
        let maps: Vec<ShiftMap> = self
            .models()
            .iter()
            .map(|m| ShiftMap::new(m.graph.input[1], step.max(1)))
            .collect();
        let job = ShiftJob {
            maps,
            images,
            next: 0,
            cell: None,
            scratch: ShardScratch::default(),
        };
        let first = FromWorker::ShiftMaps {
            done: 0,
            total: job.total(),
            maps: job.maps.clone(),
        };
        self.shift = Some(job);
        Ok(first)
    }

    /// One batch of the current shift-map cell; reports after each row of the grid.
    pub(super) fn shift_cell(&mut self) -> Vec<FromWorker> {
        let Some(mut job) = self.shift.take() else {
            return Vec::new();
        };
        let per_map = job.cells_per_map();
        let (model, cell) = (job.next / per_map, job.next % per_map);
        let n = job.maps[model].offsets.len();
        let placement = CanvasPlacement::At {
            dx: job.maps[model].offsets[cell % n],
            dy: job.maps[model].offsets[cell / n],
        };
        let Some(m) = self.model_mut(model) else {
            return vec![FromWorker::Error(
                "shift map: the models changed while mapping".into(),
            )];
        };
        let len = job.images.len();
        let evaluator = job
            .cell
            .get_or_insert_with(|| Evaluator::new(m.classes(), placement, SHIFT_BATCH, len));
        let mut cpu = CpuInfer {
            model: m,
            scratch: &mut job.scratch,
        };
        let finished = match now(evaluator.step(&mut cpu, &job.images, 1)).and_then(|r| r) {
            Ok(done) => done,
            Err(e) => return vec![FromWorker::Error(format!("shift map: {e}"))],
        };
        let Some(evaluation) = finished else {
            self.shift = Some(job);
            return Vec::new();
        };
        job.cell = None;
        job.maps[model].accuracy[cell] = evaluation.metrics.accuracy;
        job.next += 1;
        let total = job.total();
        let done = job.next;
        let message = (done == total || done % n == 0).then(|| FromWorker::ShiftMaps {
            done,
            total,
            maps: job.maps.clone(),
        });
        if done < total {
            self.shift = Some(job);
        }
        message.into_iter().collect()
    }
}
