//! Test-set evaluation (loss, metrics, confusion matrix) and the accuracy-by-shift map.

use serde::{Deserialize, Serialize};

use crate::data::{CanvasPlacement, Dataset, fill_batch, offsets_for};
use crate::error::{Error, Result};
use crate::metrics::{ClassificationMetrics, ConfusionMatrix, ShiftMap, argmax};
use crate::model::{Mode, Model, Workspace};
use crate::ops::softmax_ce::softmax_ce_forward;

/// Test-set results of one model on one placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub placement: CanvasPlacement,
    pub loss: f32,
    pub metrics: ClassificationMetrics,
    pub confusion: ConfusionMatrix,
}

/// Evaluates on every image of `data` placed by `placement` (dropout off, running statistics).
pub fn evaluate(
    model: &mut Model,
    data: &Dataset,
    placement: CanvasPlacement,
    batch: usize,
) -> Result<Evaluation> {
    let mut e = Evaluator::new(model, placement, batch, data.len());
    loop {
        if let Some(done) = e.step(model, data)? {
            return Ok(done);
        }
    }
}

/// A chunked evaluation: [`Evaluator::step`] runs one batch, so a long test never blocks.
pub struct Evaluator {
    placement: CanvasPlacement,
    next: usize,
    len: usize,
    batch: usize,
    loss_sum: f64,
    confusion: ConfusionMatrix,
    ws: Workspace,
    x: Vec<f32>,
    y: Vec<u8>,
    probs: Vec<f32>,
}

impl Evaluator {
    /// Evaluates the first `len` images of the data set it is stepped over.
    pub fn new(model: &Model, placement: CanvasPlacement, batch: usize, len: usize) -> Self {
        Evaluator {
            placement,
            next: 0,
            len,
            batch: batch.max(1),
            loss_sum: 0.0,
            confusion: ConfusionMatrix::new(model.classes()),
            ws: Workspace::new(),
            x: Vec::new(),
            y: Vec::new(),
            probs: Vec::new(),
        }
    }

    /// Evaluates the next batch of `data`; returns the result once every image is done.
    pub fn step(&mut self, model: &mut Model, data: &Dataset) -> Result<Option<Evaluation>> {
        let canvas = model.graph.input[1];
        let classes = model.classes();
        let len = self.len.min(data.len());
        let end = (self.next + self.batch).min(len);
        let chunk: Vec<usize> = (self.next..end).collect();
        if !chunk.is_empty() {
            let offsets = offsets_for(&self.placement, canvas, &chunk)?;
            fill_batch(data, &chunk, &offsets, canvas, &mut self.x, &mut self.y)?;
            model.forward(&mut self.ws, &self.x, chunk.len(), Mode::Eval)?;
            self.probs.resize(chunk.len() * classes, 0.0);
            let out = softmax_ce_forward(&mut self.probs, self.ws.logits(), &self.y, classes)?;
            self.loss_sum += out.loss as f64 * chunk.len() as f64;
            for (row, &label) in self.ws.logits().chunks_exact(classes).zip(&self.y) {
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
pub fn shift_map(
    model: &mut Model,
    data: &Dataset,
    step: usize,
    batch: usize,
    mut on_cell: impl FnMut(usize, usize),
) -> Result<ShiftMap> {
    let canvas = model.graph.input[1];
    let mut map = ShiftMap::new(canvas, step);
    let offsets = map.offsets.clone();
    let cells = offsets.len() * offsets.len();
    for (yi, &dy) in offsets.iter().enumerate() {
        for (xi, &dx) in offsets.iter().enumerate() {
            let e = evaluate(model, data, CanvasPlacement::At { dx, dy }, batch)?;
            map.accuracy[yi * offsets.len() + xi] = e.metrics.accuracy;
            on_cell(yi * offsets.len() + xi + 1, cells);
        }
    }
    Ok(map)
}
