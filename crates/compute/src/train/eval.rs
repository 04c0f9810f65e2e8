//! Test-set evaluation (loss, metrics, confusion matrix) and the accuracy-by-shift map.

use serde::{Deserialize, Serialize};

use super::ShardScratch;
use crate::data::{CanvasPlacement, Dataset, Label, fill_batch, offsets_for};
use crate::error::{Error, Result};
use crate::metrics::{ClassificationMetrics, ConfusionMatrix, ShiftMap, argmax};
use crate::model::{Mode, Model};
use crate::ops::softmax_ce::softmax_ce_forward;

/// Test-set results of one model on one placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub placement: CanvasPlacement,
    pub loss: f32,
    pub metrics: ClassificationMetrics,
    pub confusion: ConfusionMatrix,
}

/// Images `indices` of `data`, each placed at its offset on the canvas.
#[derive(Clone, Copy)]
pub struct Placed<'a> {
    pub data: &'a Dataset,
    pub indices: &'a [usize],
    pub offsets: &'a [(usize, usize)],
}

/// Evaluation-mode logits of batches of placed digits, on some backend: the CPU computes each
/// batch as it is queued; the GPU records and submits it and reads every queued batch's logits
/// back in one wait. [`Evaluator`], [`evaluate`] and [`shift_map`] are written once over it.
#[allow(async_fn_in_trait)]
pub trait Infer {
    /// Classes of the model's output.
    fn classes(&self) -> usize;
    /// Side of the canvas the model reads.
    fn canvas(&self) -> usize;
    /// Images that may be queued before [`Infer::take_logits`] must be called.
    fn max_queued(&self) -> usize;
    /// Queues the forward (dropout off, running statistics) of `batch`.
    fn queue(&mut self, batch: Placed<'_>) -> Result<()>;
    /// The logits `[images, classes]` of every batch queued since the last call, in order,
    /// into `out` (replacing what it held).
    async fn take_logits(&mut self, out: &mut Vec<f32>) -> Result<()>;
}

impl<T: Infer> Infer for &mut T {
    fn classes(&self) -> usize {
        (**self).classes()
    }

    fn canvas(&self) -> usize {
        (**self).canvas()
    }

    fn max_queued(&self) -> usize {
        (**self).max_queued()
    }

    fn queue(&mut self, batch: Placed<'_>) -> Result<()> {
        (**self).queue(batch)
    }

    async fn take_logits(&mut self, out: &mut Vec<f32>) -> Result<()> {
        (**self).take_logits(out).await
    }
}

/// The CPU's [`Infer`]: a model and the buffers its forward reuses (a trainer's own, see
/// [`super::Trainer::infer`], or any [`ShardScratch`]).
pub struct CpuInfer<'a> {
    pub model: &'a mut Model,
    pub scratch: &'a mut ShardScratch,
}

impl Infer for CpuInfer<'_> {
    fn classes(&self) -> usize {
        self.model.classes()
    }

    fn canvas(&self) -> usize {
        self.model.graph.input[1]
    }

    fn max_queued(&self) -> usize {
        usize::MAX
    }

    fn queue(&mut self, b: Placed<'_>) -> Result<()> {
        let canvas = self.canvas();
        let s = &mut *self.scratch;
        fill_batch(b.data, b.indices, b.offsets, canvas, &mut s.x, &mut s.y)?;
        self.model
            .forward(&mut s.ws, &s.x, b.indices.len(), Mode::Eval)?;
        s.pending.extend_from_slice(s.ws.logits());
        Ok(())
    }

    async fn take_logits(&mut self, out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        std::mem::swap(out, &mut self.scratch.pending);
        Ok(())
    }
}

/// Evaluates on every image of `data` placed by `placement`, in batches of `batch`.
pub async fn evaluate<I: Infer>(
    inf: &mut I,
    data: &Dataset,
    placement: CanvasPlacement,
    batch: usize,
) -> Result<Evaluation> {
    let mut e = Evaluator::new(inf.classes(), placement, batch, data.len());
    loop {
        if let Some(done) = e.step(inf, data, usize::MAX).await? {
            return Ok(done);
        }
    }
}

/// A chunked evaluation: [`Evaluator::step`] evaluates a few batches, so a long test set never
/// blocks the caller for long.
pub struct Evaluator {
    placement: CanvasPlacement,
    next: usize,
    len: usize,
    batch: usize,
    loss_sum: f64,
    confusion: ConfusionMatrix,
    logits: Vec<f32>,
    labels: Vec<Label>,
    probs: Vec<f32>,
}

impl Evaluator {
    /// Evaluates the first `len` images of the data set it is stepped over, `batch` at a time,
    /// for a model of `classes` classes.
    pub fn new(classes: usize, placement: CanvasPlacement, batch: usize, len: usize) -> Self {
        Evaluator {
            placement,
            next: 0,
            len,
            batch: batch.max(1),
            loss_sum: 0.0,
            confusion: ConfusionMatrix::new(classes),
            logits: Vec::new(),
            labels: Vec::new(),
            probs: Vec::new(),
        }
    }

    /// Evaluates up to `batches` more batches of `data` through `inf`; returns the result once
    /// every image is done.
    pub async fn step<I: Infer>(
        &mut self,
        inf: &mut I,
        data: &Dataset,
        batches: usize,
    ) -> Result<Option<Evaluation>> {
        let (canvas, classes) = (inf.canvas(), inf.classes());
        let len = self.len.min(data.len());
        let first = self.next;
        let mut end = first;
        for _ in 0..batches.max(1) {
            let stop = (end + self.batch).min(len);
            if stop == end || (end > first && stop - first > inf.max_queued()) {
                break;
            }
            let chunk: Vec<usize> = (end..stop).collect();
            let offsets = offsets_for(&self.placement, canvas, &chunk)?;
            inf.queue(Placed {
                data,
                indices: &chunk,
                offsets: &offsets,
            })?;
            end = stop;
        }
        if end > first {
            inf.take_logits(&mut self.logits).await?;
            let n = end - first;
            if self.logits.len() != n * classes {
                return Err(Error::ShapeMismatch {
                    op: "evaluate",
                    expected: format!("{n} × {classes} logits"),
                    got: self.logits.len().to_string(),
                });
            }
            self.labels.clear();
            self.labels
                .extend((first..end).map(|i| Label::from(data.label(i))));
            self.probs.resize(n * classes, 0.0);
            let out = softmax_ce_forward(&mut self.probs, &self.logits, &self.labels, classes)?;
            self.loss_sum += out.loss as f64 * n as f64;
            for (row, &label) in self.logits.chunks_exact(classes).zip(&self.labels) {
                self.confusion
                    .add(label as usize, argmax(row))
                    .map_err(|e| Error::InvalidTrainSpec(e.to_string()))?;
            }
        }
        self.next = end;
        if self.next < len {
            return Ok(None);
        }
        Ok(Some(Evaluation {
            placement: self.placement,
            loss: (self.loss_sum / len.max(1) as f64) as f32,
            metrics: self.confusion.summary(),
            confusion: std::mem::replace(&mut self.confusion, ConfusionMatrix::new(classes)),
        }))
    }
}

/// Accuracy with every digit at each (dx, dy) of a grid with spacing `step` over the canvas.
/// `on_cell(done, cells)` follows the progress.
pub async fn shift_map<I: Infer>(
    inf: &mut I,
    data: &Dataset,
    step: usize,
    batch: usize,
    mut on_cell: impl FnMut(usize, usize),
) -> Result<ShiftMap> {
    let mut map = ShiftMap::new(inf.canvas(), step);
    let offsets = map.offsets.clone();
    let cells = offsets.len() * offsets.len();
    for (yi, &dy) in offsets.iter().enumerate() {
        for (xi, &dx) in offsets.iter().enumerate() {
            let e = evaluate(inf, data, CanvasPlacement::At { dx, dy }, batch).await?;
            map.accuracy[yi * offsets.len() + xi] = e.metrics.accuracy;
            on_cell(yi * offsets.len() + xi + 1, cells);
        }
    }
    Ok(map)
}
