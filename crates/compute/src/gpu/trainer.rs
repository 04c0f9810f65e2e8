//! Training and evaluation on the GPU, with the CPU trainer's semantics: the same seeded streams
//! (initialisation, shuffle, augmentation, dropout keys), the same batches and the same metrics.
//!
//! A step uploads only the batch's u8 digits, labels and canvas offsets, records the whole step
//! (placement, forward, loss, backward, optimizer) in one compute pass, submits and returns. Each
//! step's loss and correct count stay in a device buffer until [`GpuTrainer::read_metrics`].

use std::sync::Arc;

use super::kernels::SoftmaxParams;
use super::model::{GpuModel, METRIC_SLOTS};
use super::ops;
use super::{GpuBuffer, GpuContext};
use crate::data::{Dataset, Label, check_batch};
use crate::error::{Error, Result};
use crate::model::{Model, ModelSpec};
use crate::train::{Infer, Placed, Progress, StepStats, Steps, Streams, TrainSpec, train_epoch};

/// Runs a future to completion natively (the CLI and tests); in the browser, `await` instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// The batch's digits, labels and offsets, checked and packed for upload.
#[derive(Default)]
struct HostBatch {
    images: Vec<u8>,
    offsets: Vec<u32>,
    labels: Vec<u32>,
}

impl HostBatch {
    fn fill(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        offsets: &[(usize, usize)],
        canvas: usize,
    ) -> Result<()> {
        check_batch(data, indices, offsets, canvas)?;
        self.images.clear();
        for &i in indices {
            self.images.extend_from_slice(data.image(i));
        }
        self.images.resize(self.images.len().div_ceil(4) * 4, 0);
        self.offsets.clear();
        for &(dx, dy) in offsets {
            self.offsets.extend([dx as u32, dy as u32]);
        }
        self.labels.clear();
        self.labels
            .extend(indices.iter().map(|&i| u32::from(data.label(i))));
        Ok(())
    }

    fn upload(&self, ctx: &GpuContext, gpu: &GpuModel) {
        ctx.queue.write_buffer(&gpu.images.buf, 0, &self.images);
        ctx.queue
            .write_buffer(&gpu.offsets.buf, 0, bytemuck::cast_slice(&self.offsets));
        ctx.queue
            .write_buffer(&gpu.labels.buf, 0, bytemuck::cast_slice(&self.labels));
    }
}

/// Trains one model on the GPU.
pub struct GpuTrainer {
    pub ctx: Arc<GpuContext>,
    pub gpu: GpuModel,
    /// The model's spec and graph, with the weights as last read back by [`Self::read_model`]
    /// (the initial weights until then): after a device loss, continue on the CPU from here.
    pub model: Model,
    pub spec: TrainSpec,
    pub epoch: usize,
    pub steps: u64,
    /// [`Self::train_epoch`] reads metrics back every this many steps.
    pub sync_every: usize,
    streams: Streams,
    /// (step, images) of each step whose metrics are still on the device, slot = position.
    pending: Vec<(u64, usize)>,
    batch: HostBatch,
    /// The evaluation-mode model ([`Steps::infer`]) with the weights of [`Self::model`].
    infer: Option<GpuInfer>,
}

impl GpuTrainer {
    /// A freshly initialised model for `model_spec` (the same weights as the CPU trainer's for
    /// the same seed), trained as `spec` says.
    pub async fn new(ctx: Arc<GpuContext>, model_spec: ModelSpec, spec: TrainSpec) -> Result<Self> {
        spec.validate()?;
        let model = crate::train::initial_model(model_spec, &spec)?;
        Self::with_model(ctx, model, spec).await
    }

    /// Continues training `model` (e.g. loaded weights) with a fresh optimizer.
    pub async fn with_model(ctx: Arc<GpuContext>, model: Model, spec: TrainSpec) -> Result<Self> {
        // The CPU trainer's checks (canvas, classes, optimizer) and error messages.
        let cpu = crate::train::Trainer::with_model(model, spec.clone())?;
        Self::on_device(ctx, cpu.model, spec).await
    }

    /// The device side of a model the CPU trainer's checks accepted.
    async fn on_device(ctx: Arc<GpuContext>, model: Model, spec: TrainSpec) -> Result<Self> {
        ctx.check()?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let gpu = GpuModel::new(&ctx, &model, spec.batch, spec.optimizer);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu(format!(
                "GPU out of memory allocating {} for batch {}: {e}",
                model.spec.name, spec.batch
            )));
        }
        let gpu = gpu?;
        Ok(Self {
            streams: Streams::new(spec.seed),
            ctx,
            gpu,
            model,
            spec,
            epoch: 0,
            steps: 0,
            sync_every: 20,
            pending: Vec::new(),
            batch: HostBatch::default(),
            infer: None,
        })
    }

    /// Trains `model` on image data ([`GpuTrainer::train_on`]): any input shape and class count,
    /// no canvas (the CPU's [`crate::train::Trainer::for_images`]).
    pub async fn for_images(ctx: Arc<GpuContext>, model: Model, spec: TrainSpec) -> Result<Self> {
        let cpu = crate::train::Trainer::for_images(model, spec.clone())?;
        Self::on_device(ctx, cpu.model, spec).await
    }

    /// Submits one step on a ready batch: `x` is `[n, c, h, w]` as the model's input, `labels`
    /// its classes; the canvas is not used. Its loss comes back from [`Self::read_metrics`], as
    /// a digit step's does.
    pub fn train_on(&mut self, x: &[f32], labels: &[Label]) -> Result<()> {
        let ctx = self.ctx.clone();
        self.check_room()?;
        let n = labels.len();
        let classes = self.gpu.graph.classes;
        if n == 0 || x.len() != n * self.model.input_len() {
            return Err(Error::ShapeMismatch {
                op: "train_on",
                expected: format!("{n} inputs of {} values", self.model.input_len()),
                got: format!("{} values", x.len()),
            });
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::ShapeMismatch {
                op: "train_on",
                expected: format!("labels below {classes}"),
                got: bad.to_string(),
            });
        }
        self.gpu.plan(&ctx, n)?;
        let labels: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        ctx.queue
            .write_buffer(&self.gpu.act(0).buf, 0, bytemuck::cast_slice(x));
        ctx.queue
            .write_buffer(&self.gpu.labels.buf, 0, bytemuck::cast_slice(&labels));
        self.submit(n, false)
    }

    /// The device is alive and has a metrics slot for one more step.
    fn check_room(&self) -> Result<()> {
        self.ctx.check()?;
        if self.pending.len() >= METRIC_SLOTS {
            return Err(Error::Gpu(format!(
                "{METRIC_SLOTS} steps without reading metrics back: call read_metrics"
            )));
        }
        Ok(())
    }

    /// Records and submits the step on the `n` images already uploaded (placed on the canvas
    /// first when `canvas`): dropout keys, loss and optimizer params, then one compute pass of
    /// the plan.
    fn submit(&mut self, n: usize, canvas: bool) -> Result<()> {
        let ctx = self.ctx.clone();
        let keys: Vec<u64> = (0..self.model.dropout_draws())
            .map(|_| self.streams.dropout.next_u64())
            .collect();
        self.gpu.set_dropout_keys(&ctx, n, &keys)?;
        let step = self.steps + 1;
        let slot = self.pending.len();
        let (classes, param_len) = (self.gpu.graph.classes, self.gpu.graph.param_len);
        let plan = self.gpu.plan(&ctx, n)?;
        plan.loss[0].set_params(
            &ctx,
            &SoftmaxParams {
                n: n as u32,
                classes: classes as u32,
                slot: slot as u32,
                scale: 1.0,
            },
        );
        if let crate::optim::OptimizerSpec::Adam { .. } = self.spec.optimizer {
            let p = ops::adam_params(&self.spec.optimizer, param_len, step as u32)?;
            plan.update.set_params(&ctx, &p);
        }
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.gpu.clear_grads(&mut enc);
        {
            let plan = self.gpu.plan(&ctx, n)?;
            let mut pass = enc.begin_compute_pass(&Default::default());
            if canvas {
                plan.canvas.record(&ctx, &mut pass);
            }
            for d in plan
                .forward_train
                .iter()
                .chain(&plan.loss)
                .chain(&plan.backward)
                .chain(std::iter::once(&plan.update))
            {
                d.record(&ctx, &mut pass);
            }
        }
        ctx.queue.submit([enc.finish()]);
        self.pending.push((step, n));
        self.steps = step;
        Ok(())
    }

    /// Bytes this run holds on the device: the training model's, and the evaluation model's
    /// while it exists.
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.bytes + self.infer.as_ref().map_or(0, GpuInfer::gpu_bytes)
    }

    /// The next epoch's training images, shuffled by the run's shuffle stream: the CPU
    /// trainer's order ([`crate::train::Trainer::epoch_order`]) for the same seed.
    pub fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        self.streams.epoch_order(&self.spec, data)
    }

    /// Records and submits one optimizer step on the images `indices` of `data`; does not wait.
    /// Its loss and correct count come back with the next [`Self::read_metrics`].
    pub fn train_step(&mut self, data: &Dataset, indices: &[usize]) -> Result<()> {
        let ctx = self.ctx.clone();
        self.check_room()?;
        let n = indices.len();
        let canvas = self.spec.canvas;
        let offsets = self.streams.offsets(&self.spec, indices)?;
        self.batch.fill(data, indices, &offsets, canvas)?;
        self.gpu.plan(&ctx, n)?;
        self.batch.upload(&ctx, &self.gpu);
        self.submit(n, true)
    }

    /// Waits for the submitted steps and returns each one's loss and correct count, in order.
    /// A non-finite loss is [`Error::Diverged`] (the GPU has already applied that step).
    pub async fn read_metrics(&mut self) -> Result<Vec<StepStats>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let vals = self
            .gpu
            .metrics
            .read_f32_range(&self.ctx, 0..2 * self.pending.len())
            .await?;
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::with_capacity(pending.len());
        for (&(step, images), m) in pending.iter().zip(vals.chunks_exact(2)) {
            if !m[0].is_finite() {
                return Err(Error::Diverged { step, loss: m[0] });
            }
            out.push(StepStats {
                loss: m[0],
                correct: m[1] as usize,
                images,
            });
        }
        Ok(out)
    }

    /// One pass over the (limited, shuffled) training set ([`train_epoch`]): `on_step` sees
    /// progress after every step, delivered every [`Self::sync_every`] steps when the metrics
    /// come back.
    pub async fn train_epoch(
        &mut self,
        data: &Dataset,
        on_step: impl FnMut(&Progress) -> bool,
    ) -> Result<Progress> {
        train_epoch(self, data, on_step).await
    }

    /// Reads every weight back into [`Self::model`] and returns it: the state to save, or to
    /// continue from on the CPU.
    pub async fn read_model(&mut self) -> Result<&Model> {
        let params = self.gpu.read_params(&self.ctx).await?;
        let buffers = self.gpu.running.read_f32(&self.ctx).await?;
        self.model.params = params;
        self.model.buffers = buffers;
        self.infer = None;
        Ok(&self.model)
    }
}

impl Steps for GpuTrainer {
    type Infer<'a> = &'a mut GpuInfer;

    fn spec(&self) -> &TrainSpec {
        &self.spec
    }

    fn epoch(&self) -> usize {
        self.epoch
    }

    fn end_epoch(&mut self) {
        self.epoch += 1;
    }

    fn epoch_order(&mut self, data: &Dataset) -> Vec<usize> {
        GpuTrainer::epoch_order(self, data)
    }

    fn submit(&mut self, data: &Dataset, indices: &[usize]) -> Result<()> {
        self.infer = None;
        self.train_step(data, indices)
    }

    async fn finished(&mut self) -> Result<Vec<StepStats>> {
        self.read_metrics().await
    }

    async fn sync_model(&mut self) -> Result<()> {
        self.read_model().await.map(|_| ())
    }

    fn model(&self) -> &Model {
        &self.model
    }

    fn sync_every(&self) -> usize {
        self.sync_every
    }

    /// The model's weights as last read back ([`Steps::sync_model`]), on a second set of device
    /// buffers sized for evaluation batches. Built on first use after the weights last moved
    /// (a step or a read-back drops it), so it holds memory only while a run evaluates.
    fn infer(&mut self, batch: usize) -> Result<&mut GpuInfer> {
        if self
            .infer
            .as_ref()
            .is_none_or(|inf| inf.batch != batch.max(1))
        {
            self.infer = Some(GpuInfer::new(self.ctx.clone(), &self.model, batch)?);
        }
        Ok(self.infer.as_mut().expect("just set"))
    }

    fn release_infer(&mut self) {
        self.infer = None;
    }
}

/// The GPU's [`Infer`]: a model's buffers for evaluation batches of up to `batch` images. Each
/// queued batch is placed, run and its logits copied aside on the device; the logits of every
/// queued batch come back in one read.
pub struct GpuInfer {
    ctx: Arc<GpuContext>,
    gpu: GpuModel,
    batch: usize,
    /// Logits of the queued batches, for up to `capacity` images.
    results: GpuBuffer,
    capacity: usize,
    queued: usize,
    host: HostBatch,
}

/// Images whose logits one [`GpuInfer`] holds before they must be read back.
const INFER_QUEUE: usize = 16_384;

impl GpuInfer {
    pub fn new(ctx: Arc<GpuContext>, model: &Model, batch: usize) -> Result<Self> {
        Self::with_queue(ctx, model, batch, INFER_QUEUE)
    }

    /// [`GpuInfer::new`] whose device holds the logits of `queue` images (at least a batch)
    /// before they are read back.
    pub fn with_queue(
        ctx: Arc<GpuContext>,
        model: &Model,
        batch: usize,
        queue: usize,
    ) -> Result<Self> {
        let batch = batch.max(1);
        let capacity = queue.max(batch);
        let gpu = GpuModel::new(&ctx, model, batch, crate::optim::OptimizerSpec::sgd(0.1))?;
        let results = GpuBuffer::zeros(&ctx, "logits", capacity * gpu.graph.classes);
        Ok(Self {
            ctx,
            gpu,
            batch,
            results,
            capacity,
            queued: 0,
            host: HostBatch::default(),
        })
    }
}

impl GpuInfer {
    /// Bytes it holds on the device: the model's buffers and the queued logits.
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.bytes + self.results.len as u64 * 4
    }
}

impl Infer for GpuInfer {
    fn classes(&self) -> usize {
        self.gpu.graph.classes
    }

    fn canvas(&self) -> usize {
        self.gpu.graph.input[1]
    }

    fn max_queued(&self) -> usize {
        self.capacity
    }

    fn queue(&mut self, b: Placed<'_>) -> Result<()> {
        let ctx = self.ctx.clone();
        let (n, classes, canvas) = (b.indices.len(), self.classes(), self.canvas());
        if n > self.batch || self.queued + n > self.max_queued() {
            return Err(Error::Gpu(format!(
                "{n} more images to evaluate with {} queued: at most {} per batch and {} queued",
                self.queued,
                self.batch,
                self.max_queued()
            )));
        }
        self.host.fill(b.data, b.indices, b.offsets, canvas)?;
        self.gpu.plan(&ctx, n)?;
        self.host.upload(&ctx, &self.gpu);
        let plan = self.gpu.plan(&ctx, n)?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            plan.canvas.record(&ctx, &mut pass);
            for d in &plan.forward_eval {
                d.record(&ctx, &mut pass);
            }
        }
        enc.copy_buffer_to_buffer(
            &self.gpu.logits().buf,
            0,
            &self.results.buf,
            (self.queued * classes * 4) as u64,
            (n * classes * 4) as u64,
        );
        ctx.check()?;
        ctx.queue.submit([enc.finish()]);
        self.queued += n;
        Ok(())
    }

    async fn take_logits(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let floats = self.queued * self.classes();
        self.queued = 0;
        *out = if floats == 0 {
            Vec::new()
        } else {
            self.results.read_f32_range(&self.ctx, 0..floats).await?
        };
        Ok(())
    }
}
