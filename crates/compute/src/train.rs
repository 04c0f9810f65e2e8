//! The training loop: batches → forward → loss → backward → step, with progress events, and
//! evaluation (metrics, confusion matrix, accuracy-by-shift map).
//!
//! Every random choice comes from streams derived from `TrainSpec::seed`, so a seed reproduces a
//! run bit for bit, whatever the thread count.

use serde::{Deserialize, Serialize};

use crate::data::{CanvasPlacement, Dataset, RandomShift, fill_batch, offsets_for};
use crate::error::{Error, Result};
use crate::metrics::{ClassificationMetrics, ConfusionMatrix, ShiftMap, argmax};
use crate::model::{Mode, Model, ModelSpec, Workspace};
use crate::ops::softmax_ce::{softmax_ce_backward, softmax_ce_forward};
use crate::optim::{Optimizer, OptimizerSpec};
use crate::rng::{Rng, hash2};

fn default_canvas() -> usize {
    64
}

/// How to train: epochs, batch, optimizer, seed, training-set size, canvas and augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: OptimizerSpec,
    pub seed: u64,
    /// Train on the first `limit` training images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Side of the square canvas digits are placed on (28 = no padding; the lecture uses 64).
    #[serde(default = "default_canvas")]
    pub canvas: usize,
    /// Train-time augmentation: each digit moved up to this many pixels from the centre.
    #[serde(default)]
    pub train_shift: usize,
}

impl Default for TrainSpec {
    /// The lecture's settings: Adam 1e-3, batch 64, centred 64×64 canvas.
    fn default() -> Self {
        TrainSpec {
            epochs: 1,
            batch: 64,
            optimizer: OptimizerSpec::adam(1e-3),
            seed: 0,
            limit: None,
            canvas: 64,
            train_shift: 0,
        }
    }
}

impl TrainSpec {
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        let bad = |m: String| Err(Error::InvalidTrainSpec(m));
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!(
                "epochs = {} must be between 1 and 10000",
                self.epochs
            ));
        }
        if self.batch == 0 || self.batch > 4096 {
            return bad(format!("batch = {} must be between 1 and 4096", self.batch));
        }
        if !(28..=512).contains(&self.canvas) {
            return bad(format!(
                "canvas = {} must be between 28 and 512",
                self.canvas
            ));
        }
        if self.limit == Some(0) {
            return bad("limit must be at least 1 image".into());
        }
        Ok(())
    }
}

fn all_finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Purposes of the seed's independent random streams.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Init = 1,
    Shuffle = 2,
    Dropout = 3,
    Augment = 4,
}

pub(crate) fn stream(seed: u64, s: Stream) -> u64 {
    hash2(seed, s as u64)
}

/// Running figures of the epoch so far, sent after every step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub images: usize,
    /// Mean training loss over the epoch so far.
    pub loss: f32,
    /// Training accuracy over the epoch so far (dropout on).
    pub accuracy: f32,
    /// Loss of the last batch.
    pub batch_loss: f32,
}

/// One batch's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub loss: f32,
    pub correct: usize,
    pub images: usize,
}

/// Running training figures of an epoch: mean loss and accuracy over the steps so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochTally {
    loss_sum: f64,
    correct: usize,
    pub images: usize,
}

impl EpochTally {
    pub fn add(&mut self, st: &StepStats) {
        self.loss_sum += st.loss as f64 * st.images as f64;
        self.correct += st.correct;
        self.images += st.images;
    }

    /// Mean loss per image so far.
    pub fn loss(&self) -> f32 {
        (self.loss_sum / self.images as f64) as f32
    }

    /// Fraction of images classified correctly so far.
    pub fn accuracy(&self) -> f32 {
        self.correct as f32 / self.images as f32
    }
}

/// Trains one model.
pub struct Trainer {
    pub model: Model,
    pub optimizer: Optimizer,
    pub spec: TrainSpec,
    pub epoch: usize,
    pub steps: u64,
    ws: Workspace,
    shuffle: Rng,
    dropout: Rng,
    augment: Rng,
    x: Vec<f32>,
    y: Vec<u8>,
    probs: Vec<f32>,
    dlogits: Vec<f32>,
}

impl Trainer {
    /// A freshly initialised model for `model_spec`, trained as `spec` says.
    pub fn new(model_spec: ModelSpec, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        let model = Model::new(model_spec, stream(spec.seed, Stream::Init))?;
        Self::with_model(model, spec)
    }

    /// Continues training an existing model (e.g. loaded weights) with a fresh optimizer.
    pub fn with_model(model: Model, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        let want = [1, spec.canvas, spec.canvas];
        if model.graph.input != want {
            return Err(Error::InvalidTrainSpec(format!(
                "model {} expects input {:?} but the canvas is {}×{} (set the model's input to [1, {c}, {c}])",
                model.spec.name,
                model.graph.input,
                spec.canvas,
                spec.canvas,
                c = spec.canvas
            )));
        }
        if model.classes() != crate::data::CLASSES {
            return Err(Error::InvalidTrainSpec(format!(
                "model {} outputs {} classes; the datasets have {}",
                model.spec.name,
                model.classes(),
                crate::data::CLASSES
            )));
        }
        let optimizer = Optimizer::new(spec.optimizer, model.param_count())?;
        Ok(Self {
            optimizer,
            epoch: 0,
            steps: 0,
            ws: Workspace::new(),
            shuffle: Rng::new(stream(spec.seed, Stream::Shuffle)),
            dropout: Rng::new(stream(spec.seed, Stream::Dropout)),
            augment: Rng::new(stream(spec.seed, Stream::Augment)),
            x: Vec::new(),
            y: Vec::new(),
            probs: Vec::new(),
            dlogits: Vec::new(),
            model,
            spec,
        })
    }

    /// Training images used per epoch.
    pub fn images_per_epoch(&self, data: &Dataset) -> usize {
        self.spec.limit.map_or(data.len(), |l| l.min(data.len()))
    }

    pub fn steps_per_epoch(&self, data: &Dataset) -> usize {
        self.images_per_epoch(data).div_ceil(self.spec.batch)
    }

    /// The next epoch's training images, shuffled by the run's shuffle stream.
    pub fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.images_per_epoch(data)).collect();
        self.shuffle.shuffle(&mut order);
        order
    }

    /// One optimizer step on the images `indices` of `data`.
    /// A step whose loss, gradients or weights are not finite is refused with
    /// [`Error::Diverged`] and leaves the weights as they were.
    pub fn train_step(&mut self, data: &Dataset, indices: &[usize]) -> Result<StepStats> {
        let step = self.steps + 1;
        if !all_finite(&self.model.params) {
            return Err(Error::Diverged {
                step,
                loss: f32::NAN,
            });
        }
        let canvas = self.spec.canvas;
        let offsets = if self.spec.train_shift > 0 {
            RandomShift {
                max: self.spec.train_shift,
            }
            .offsets(canvas, indices.len(), &mut self.augment)?
        } else {
            offsets_for(&CanvasPlacement::Centered, canvas, indices)?
        };
        fill_batch(data, indices, &offsets, canvas, &mut self.x, &mut self.y)?;
        let n = indices.len();
        self.model
            .forward(&mut self.ws, &self.x, n, Mode::Train(&mut self.dropout))?;
        let classes = self.model.classes();
        self.probs.resize(n * classes, 0.0);
        self.dlogits.resize(n * classes, 0.0);
        let out = softmax_ce_forward(&mut self.probs, self.ws.logits(), &self.y, classes)?;
        if !out.loss.is_finite() {
            return Err(Error::Diverged {
                step,
                loss: out.loss,
            });
        }
        softmax_ce_backward(&mut self.dlogits, &self.probs, &self.y, classes)?;
        let aux = self.aux_gradients(step)?;
        self.model.zero_grad();
        if aux.is_empty() {
            self.model.backward(&mut self.ws, &self.dlogits)?;
        } else {
            let mut seeds = vec![(self.model.graph.output, self.dlogits.as_slice())];
            seeds.extend(aux.iter().map(|(v, d)| (*v, d.as_slice())));
            self.model.backward_seeded(&mut self.ws, &seeds)?;
        }
        if !all_finite(&self.model.grads) {
            return Err(Error::Diverged {
                step,
                loss: out.loss,
            });
        }
        self.optimizer
            .step(&mut self.model.params, &self.model.grads)?;
        self.steps += 1;
        Ok(StepStats {
            loss: out.loss,
            correct: out.correct,
            images: n,
        })
    }

    /// For each auxiliary classifier of the last forward: its value and `weight · dCE/dlogits`.
    /// The reported loss stays the main head's.
    fn aux_gradients(&self, step: u64) -> Result<Vec<(usize, Vec<f32>)>> {
        let classes = self.model.classes();
        let mut out = Vec::new();
        for a in &self.model.graph.aux {
            let logits = self.ws.value(a.value);
            let mut probs = vec![0.0; logits.len()];
            let ce = softmax_ce_forward(&mut probs, logits, &self.y, classes)?;
            if !ce.loss.is_finite() {
                return Err(Error::Diverged {
                    step,
                    loss: ce.loss,
                });
            }
            let mut d = vec![0.0; logits.len()];
            softmax_ce_backward(&mut d, &probs, &self.y, classes)?;
            d.iter_mut().for_each(|g| *g *= a.weight);
            out.push((a.value, d));
        }
        Ok(out)
    }

    /// One pass over the (limited, shuffled) training set. `on_step` sees progress after every
    /// step and may stop the epoch early by returning `false`.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        mut on_step: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress> {
        let order = self.epoch_order(data);
        let total = order.len();
        let steps = total.div_ceil(self.spec.batch);
        let mut tally = EpochTally::default();
        let mut progress = Progress {
            epoch: self.epoch + 1,
            epochs: self.spec.epochs,
            step: 0,
            steps,
            images: 0,
            loss: 0.0,
            accuracy: 0.0,
            batch_loss: 0.0,
        };
        for (s, batch) in order.chunks(self.spec.batch).enumerate() {
            let st = self.train_step(data, batch)?;
            tally.add(&st);
            progress = Progress {
                step: s + 1,
                images: tally.images,
                loss: tally.loss(),
                accuracy: tally.accuracy(),
                batch_loss: st.loss,
                ..progress
            };
            if !on_step(&progress) {
                break;
            }
        }
        self.epoch += 1;
        Ok(progress)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preset_for;

    fn toy_data() -> Dataset {
        crate::data::toy_dataset(40)
    }

    fn spec(seed: u64) -> TrainSpec {
        TrainSpec {
            epochs: 1,
            batch: 8,
            optimizer: OptimizerSpec::adam(1e-3),
            seed,
            limit: None,
            canvas: 28,
            train_shift: 0,
        }
    }

    fn run(seed: u64, steps: usize) -> (Vec<f32>, Vec<f32>) {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-gap", 28).unwrap(), spec(seed)).unwrap();
        let mut losses = Vec::new();
        for s in 0..steps {
            let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 40).collect();
            losses.push(t.train_step(&data, &idx).unwrap().loss);
        }
        (losses, t.model.params)
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn same_seed_gives_identical_losses_and_weights() {
        let (l1, p1) = run(42, 5);
        let (l2, p2) = run(42, 5);
        assert_eq!(l1, l2);
        assert_eq!(p1, p2);
        let (l3, _) = run(43, 5);
        assert_ne!(l1, l3);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn same_seed_gives_identical_results_on_one_and_two_threads() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(7, 4));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| run(7, 4));
        assert_eq!(one.0, two.0);
        assert_eq!(one.1, two.1);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn training_lowers_the_loss_on_a_learnable_toy_set() {
        let data = toy_data();
        let mut t = Trainer::new(
            preset_for("cnn-flatten", 28).unwrap(),
            TrainSpec {
                epochs: 30,
                ..spec(1)
            },
        )
        .unwrap();
        let first = t.train_epoch(&data, |_| true).unwrap();
        for _ in 1..30 {
            t.train_epoch(&data, |_| true).unwrap();
        }
        let e = evaluate(&mut t.model, &data, CanvasPlacement::Centered, 16).unwrap();
        assert!(e.loss < first.loss * 0.5, "{} → {}", first.loss, e.loss);
        assert!(e.metrics.accuracy > 0.9, "{:?}", e.metrics);
    }

    #[test]
    fn mismatched_canvas_and_bad_settings_are_clear_errors() {
        let err = Trainer::new(preset_for("cnn-gap", 64).unwrap(), spec(0))
            .err()
            .unwrap();
        assert!(err.to_string().contains("canvas"), "{err}");
        assert!(
            Trainer::new(
                preset_for("cnn-gap", 28).unwrap(),
                TrainSpec {
                    batch: 0,
                    ..spec(0)
                }
            )
            .is_err()
        );
        assert!(
            Trainer::new(
                preset_for("cnn-gap", 28).unwrap(),
                TrainSpec {
                    optimizer: OptimizerSpec::adam(-1.0),
                    ..spec(0)
                }
            )
            .is_err()
        );
    }

    #[test]
    fn nan_weights_report_divergence_instead_of_training_on() {
        let data = toy_data();
        let mut t = Trainer::new(preset_for("cnn-flatten", 28).unwrap(), spec(3)).unwrap();
        t.train_step(&data, &[0, 1, 2]).unwrap();
        let before = t.model.params.clone();
        t.model.params[0] = f32::NAN;
        let err = t.train_step(&data, &[0, 1, 2]).unwrap_err();
        assert!(matches!(err, Error::Diverged { step: 2, .. }), "{err}");
        // The refused step changed no other weight.
        assert_eq!(t.model.params[1..], before[1..]);
    }
}
