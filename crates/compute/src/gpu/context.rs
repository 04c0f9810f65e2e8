//! The device and its pipelines, each built once, on first use. Getting a device
//! ([`GpuContext::new`]) is separate from setting up the pipelines ([`GpuContext::from_device`])
//! so callers can bring their own.

use std::sync::{Arc, Mutex};

use super::buffer::Held;
use super::kernels::{Gemm, Kernel, Kernels};
use crate::error::{Error, Result};

/// What went wrong on the device since the context was made: the first uncaptured error
/// (validation, out of memory) or the device's loss.
type Fault = Arc<Mutex<Option<String>>>;

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter's name and backend, e.g. `llvmpipe (LLVM 19.1.7, 256 bits) (Vulkan)`.
    pub adapter: String,
    pub limits: wgpu::Limits,
    /// A software rasteriser (lavapipe, SwiftShader, WARP): correct but no faster than the CPU
    /// backend, so `--backend auto` does not pick it.
    pub software: bool,
    pub(crate) kernels: Kernels,
    fault: Fault,
    /// The storage buffers alive on the device.
    pub(crate) held: Arc<Held>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Finds an adapter (Vulkan, Metal or DX12 natively; WebGPU in the browser), opens a device
    /// with the adapter's own limits; each pipeline is built when first used.
    ///
    /// Errors with [`Error::Gpu`] naming what is missing when there is no adapter or device.
    pub async fn new() -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::Gpu(if cfg!(target_arch = "wasm32") {
                    "this browser's WebGPU offers no adapter".to_string()
                } else {
                    format!(
                        "no GPU adapter ({e}); install a Vulkan driver (Debian: mesa-vulkan-drivers) or use --backend cpu"
                    )
                })
            })?;
        let info = adapter.get_info();
        // A browser may not name its adapter (wgpu's WebGPU backend leaves the name empty).
        let label = if info.name.is_empty() {
            match info.device_type {
                wgpu::DeviceType::Cpu => "a software adapter",
                wgpu::DeviceType::DiscreteGpu => "a discrete GPU",
                wgpu::DeviceType::IntegratedGpu => "an integrated GPU",
                wgpu::DeviceType::VirtualGpu => "a virtual GPU",
                wgpu::DeviceType::Other => "an unnamed adapter",
            }
            .to_string()
        } else {
            info.name.clone()
        };
        let name = format!("{label} ({:?})", info.backend);
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("convplay"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Gpu(format!("{name}: cannot open a device: {e}")))?;
        let software = info.device_type == wgpu::DeviceType::Cpu;
        Ok(Self::from_device_for(device, queue, name, software))
    }

    /// The pipelines of a device the caller opened, taken to be a hardware GPU.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, adapter: String) -> Self {
        Self::from_device_for(device, queue, adapter, false)
    }

    /// The pipelines of a device the caller opened; `software` when the adapter is a
    /// software rasteriser, which picks the GEMM body that suits it ([`Gemm::for_adapter`]).
    pub fn from_device_for(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: String,
        software: bool,
    ) -> Self {
        let fault: Fault = Arc::new(Mutex::new(None));
        let on_error = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let what = match &e {
                wgpu::Error::OutOfMemory { .. } => "GPU out of memory".to_string(),
                other => format!("GPU error: {other}"),
            };
            if let Ok(mut f) = on_error.lock() {
                f.get_or_insert(what);
            }
        }));
        let on_lost = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut f) = on_lost.lock() {
                f.get_or_insert(format!("GPU device lost ({reason:?}): {message}"));
            }
        });
        let limits = device.limits();
        let kernels = Kernels::new(&device, Gemm::for_adapter(software));
        Self {
            device,
            queue,
            adapter,
            limits,
            software,
            kernels,
            fault,
            held: Arc::default(),
        }
    }

    /// The same device and queue with the implicit-GEMM kernels built on `gemm` instead: the
    /// tests check both bodies on whatever adapter they have. Buffers are shared between the two.
    pub fn with_gemm(&self, gemm: Gemm) -> Self {
        Self {
            device: self.device.clone(),
            queue: self.queue.clone(),
            adapter: self.adapter.clone(),
            limits: self.limits.clone(),
            software: self.software,
            kernels: Kernels::new(&self.device, gemm),
            fault: self.fault.clone(),
            held: self.held.clone(),
        }
    }

    /// `(buffers, bytes)` of the storage buffers alive on the device ([`GpuBuffer`]s, clones
    /// counted once): flat over a long run, or something leaks.
    ///
    /// [`GpuBuffer`]: super::GpuBuffer
    pub fn held(&self) -> (usize, u64) {
        self.held.now()
    }

    /// The matrix-multiply body this context's implicit-GEMM kernels use.
    pub fn gemm(&self) -> Gemm {
        self.kernels.gemm
    }

    /// Blocks natively until an adapter and device are ready (`pollster`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<Self> {
        pollster::block_on(Self::new())
    }

    /// `Err` naming what happened if the device was lost or reported an error (out of memory,
    /// validation) since the context was made. A context that failed stays failed.
    pub fn check(&self) -> Result<()> {
        match self.fault.lock().map(|f| f.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(what)) => Err(Error::Gpu(what)),
            Err(_) => Err(Error::Gpu("GPU error state poisoned".into())),
        }
    }

    pub(crate) fn pipeline(&self, k: Kernel) -> &wgpu::ComputePipeline {
        self.kernels.pipeline(k)
    }

    /// Records the dispatches into one compute pass of a new encoder and submits it; does not wait.
    pub fn submit(&self, dispatches: &[&super::ops::Dispatch]) -> Result<()> {
        self.check()?;
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for d in dispatches {
                d.record(self, &mut pass);
            }
        }
        self.queue.submit([enc.finish()]);
        Ok(())
    }
}
