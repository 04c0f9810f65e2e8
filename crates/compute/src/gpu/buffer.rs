//! Storage buffers on the device and asynchronous readback.
//!
//! A readback copies into a staging buffer, maps it and awaits the map: natively the wait is a
//! `device.poll`, in the browser the map's promise resolves on the event loop, so nothing blocks.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::GpuContext;
use crate::error::{Error, Result};

/// A storage buffer of `len` 32-bit elements (f32 or u32). Clones share the device buffer.
#[derive(Debug, Clone)]
pub struct GpuBuffer {
    pub buf: wgpu::Buffer,
    pub len: usize,
    /// Counts the buffer in its context's [`Held`] until the last clone is dropped.
    _held: Arc<HeldBuffer>,
}

/// The storage buffers alive on a device ([`GpuContext::held`]): what a long run's memory is
/// watched by. Readback staging and per-dispatch parameter buffers live within one call and are
/// not counted.
#[derive(Debug, Default)]
pub struct Held {
    buffers: AtomicUsize,
    bytes: AtomicU64,
}

impl Held {
    /// `(buffers, bytes)` alive now.
    pub fn now(&self) -> (usize, u64) {
        (
            self.buffers.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

#[derive(Debug)]
struct HeldBuffer {
    held: Arc<Held>,
    bytes: u64,
}

impl HeldBuffer {
    fn new(held: &Arc<Held>, bytes: u64) -> Self {
        held.buffers.fetch_add(1, Ordering::Relaxed);
        held.bytes.fetch_add(bytes, Ordering::Relaxed);
        Self {
            held: held.clone(),
            bytes,
        }
    }
}

impl Drop for HeldBuffer {
    fn drop(&mut self) {
        self.held.buffers.fetch_sub(1, Ordering::Relaxed);
        self.held.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl GpuBuffer {
    /// A zeroed buffer of `len` elements (at least one element is allocated: WebGPU has no empty
    /// bindings).
    pub fn zeros(ctx: &GpuContext, label: &str, len: usize) -> Self {
        let size = (len.max(1) * 4) as u64;
        let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            buf,
            len,
            _held: Arc::new(HeldBuffer::new(&ctx.held, size)),
        }
    }

    pub fn from_f32(ctx: &GpuContext, label: &str, data: &[f32]) -> Self {
        let b = Self::zeros(ctx, label, data.len());
        b.write_f32(ctx, data);
        b
    }

    pub fn from_u32(ctx: &GpuContext, label: &str, data: &[u32]) -> Self {
        let b = Self::zeros(ctx, label, data.len());
        if !data.is_empty() {
            ctx.queue
                .write_buffer(&b.buf, 0, bytemuck::cast_slice(data));
        }
        b
    }

    /// Queues `data` to be written at the start of the buffer before the next submission.
    pub fn write_f32(&self, ctx: &GpuContext, data: &[f32]) {
        if !data.is_empty() {
            ctx.queue
                .write_buffer(&self.buf, 0, bytemuck::cast_slice(data));
        }
    }

    /// The buffer's contents, once every submitted command has run.
    pub async fn read_f32(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let bytes = read_bytes(ctx, &self.buf, 0, self.len * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Elements `range` of the buffer, once every submitted command has run.
    pub async fn read_f32_range(
        &self,
        ctx: &GpuContext,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<f32>> {
        let bytes = read_bytes(ctx, &self.buf, range.start * 4, range.len() * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub async fn read_u32(&self, ctx: &GpuContext) -> Result<Vec<u32>> {
        let bytes = read_bytes(ctx, &self.buf, 0, self.len * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32_blocking(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32(ctx))
    }
}

/// Copies `len` bytes at `offset` of `src` to a staging buffer and reads them.
async fn read_bytes(
    ctx: &GpuContext,
    src: &wgpu::Buffer,
    offset: usize,
    len: usize,
) -> Result<Vec<u8>> {
    ctx.check()?;
    if len == 0 {
        return Ok(Vec::new());
    }
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: len as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(src, offset as u64, &staging, 0, len as u64);
    ctx.queue.submit([enc.finish()]);
    let (tx, rx) = oneshot();
    staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
    #[cfg(not(target_arch = "wasm32"))]
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
    let mapped = rx.await;
    ctx.check()?;
    mapped.map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?;
    let bytes = staging
        .get_mapped_range(..)
        .map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?
        .to_vec();
    staging.unmap();
    Ok(bytes)
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Sender<T>(Arc<Mutex<Slot<T>>>);
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

/// A one-value channel whose receiver is a future: the bridge from wgpu's map callback to `await`.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    fn send(self, v: T) {
        if let Ok(mut s) = self.0.lock() {
            s.value = Some(v);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = match self.0.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
