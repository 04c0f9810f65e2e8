//! One WGSL file per primitive pass, assembled by the `kernels!` table, and the pipelines, built
//! once per device. The params struct each shader reads is in [`super::params`].
//!
//! The implicit-GEMM primitives (conv2d and dense, forward and both backwards) share one
//! matrix-multiply body appended to their own file, which supplies the loaders: on a hardware
//! GPU the workgroup-memory tiled one (`matmul_tiled.wgsl`), on a software adapter the
//! register-blocked one (`matmul_registers.wgsl`); see [`Gemm`]. Tile sizes are WGSL `override`
//! constants set here.

pub use super::params::*;

macro_rules! shader {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("../../../../shaders/", $file))),+)
    };
}

/// Declares every kernel once, `Name => [files]`: the WGSL files under `shaders/` that make up
/// its module, concatenated in order (WGSL does not care where a declaration stands: shared
/// preludes come first, and a shared entry point such as `common/elementwise.wgsl`, which calls
/// the kernel's `element`, last). `Name => gemm [files]` is an implicit GEMM: its files supply the
/// loaders of a matrix-multiply body, appended per [`Gemm`]; a `registers [files]` after it is a
/// whole kernel of its own that replaces both on [`Gemm::Registers`]. Generates [`Kernel`],
/// [`Kernel::ALL`], [`Kernel::own_source`] and what [`Kernel::source_for`] needs.
macro_rules! kernels {
    (@gemm) => {
        false
    };
    (@gemm gemm) => {
        true
    };
    (@registers) => {
        None
    };
    (@registers $($file:literal),+) => {
        Some(shader!($($file),+))
    };
    ($(
        $name:ident => $($gemm:ident)? [$($file:literal),+ $(,)?]
            $(registers [$($reg:literal),+ $(,)?])?
    ),+ $(,)?) => {
        /// Every compute pipeline, named like its Rust primitive.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Kernel {
            $($name),+
        }

        impl Kernel {
            pub const ALL: [Kernel; [$(stringify!($name)),+].len()] = [$(Kernel::$name),+];

            /// The kernel's place in [`Kernel::ALL`] (its declaration order), for tables indexed
            /// by kernel.
            pub fn index(self) -> usize {
                self as usize
            }

            /// The kernel's name, as in this table.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kernel::$name => stringify!($name)),+
                }
            }

            /// The primitive's own WGSL: its files, shared preludes first. An implicit GEMM
            /// still needs a matrix-multiply body appended ([`Kernel::source_for`]).
            pub fn own_source(self) -> &'static str {
                match self {
                    $(Kernel::$name => shader!($($file),+)),+
                }
            }

            fn is_gemm(self) -> bool {
                match self {
                    $(Kernel::$name => kernels!(@gemm $($gemm)?)),+
                }
            }

            /// The whole module of a GEMM that has a kernel of its own on [`Gemm::Registers`].
            fn registers_source(self) -> Option<&'static str> {
                match self {
                    $(Kernel::$name => kernels!(@registers $($($reg),+)?)),+
                }
            }
        }
    };
}

// The convolutions have whole kernels of their own for software adapters (`registers`): the
// generic loaders' im2col index arithmetic (divisions) dominates there.
kernels! {
    Conv2dForward => gemm ["conv/conv_common.wgsl", "conv/conv2d_forward.wgsl"]
        registers [
            "conv/conv_common.wgsl",
            "gemm/registers_common.wgsl",
            "conv/conv2d_forward_registers.wgsl",
        ],
    Conv2dBackwardInput => gemm ["conv/conv_common.wgsl", "conv/conv2d_backward_input.wgsl"]
        registers [
            "conv/conv_common.wgsl",
            "gemm/registers_common.wgsl",
            "conv/conv2d_backward_input_registers.wgsl",
        ],
    Conv2dBackwardWeight => gemm ["conv/conv_common.wgsl", "conv/conv2d_backward_weight.wgsl"]
        registers [
            "conv/conv_common.wgsl",
            "gemm/registers_common.wgsl",
            "conv/conv2d_backward_weight_registers.wgsl",
        ],
    Conv2dBackwardWeightReduce => [
        "conv/conv_common.wgsl",
        "conv/conv2d_backward_weight_reduce.wgsl",
        "common/elementwise.wgsl",
    ],
    Conv2dForwardStrip => [
        "conv/conv_common.wgsl",
        "gemm/registers_common.wgsl",
        "gemm/tile8.wgsl",
        "conv/conv2d_forward_strip.wgsl",
        "conv/conv_strip_common.wgsl",
    ],
    Conv2dBackwardInputStrip => [
        "conv/conv_common.wgsl",
        "gemm/registers_common.wgsl",
        "gemm/tile8.wgsl",
        "conv/conv2d_backward_input_strip.wgsl",
        "conv/conv_strip_common.wgsl",
    ],
    Conv2dBackwardWeightStrip => [
        "conv/conv_common.wgsl",
        "gemm/registers_common.wgsl",
        "gemm/tile8.wgsl",
        "conv/conv2d_backward_weight_strip.wgsl",
    ],
    BiasBackward => [
        "common/channel_reduce.wgsl",
        "common/workgroup_sum.wgsl",
        "conv/bias_backward.wgsl",
    ],
    Conv2dWinogradWeights => [
        "winograd/winograd_common.wgsl",
        "winograd/xi_write.wgsl",
        "winograd/conv2d_winograd_weights.wgsl",
        "common/elementwise_64.wgsl",
    ],
    Conv2dWinogradInput => [
        "winograd/winograd_common.wgsl",
        "winograd/xi_write.wgsl",
        "winograd/conv2d_winograd_input.wgsl",
        "winograd/block_pass.wgsl",
        "common/elementwise_64.wgsl",
    ],
    Conv2dWinogradGemm => [
        "winograd/winograd_common.wgsl",
        "gemm/registers_common.wgsl",
        "gemm/tile8.wgsl",
        "winograd/conv2d_winograd_gemm.wgsl",
    ],
    Conv2dWinogradOutput => [
        "winograd/winograd_common.wgsl",
        "winograd/xi_read.wgsl",
        "winograd/conv2d_winograd_output.wgsl",
        "common/elementwise_64.wgsl",
    ],
    Conv2dWinogradDout => [
        "winograd/winograd_common.wgsl",
        "winograd/xi_write.wgsl",
        "winograd/conv2d_winograd_dout.wgsl",
        "winograd/block_pass.wgsl",
        "common/elementwise_64.wgsl",
    ],
    Conv2dWinogradWeightGemm => [
        "winograd/winograd_common.wgsl",
        "gemm/registers_common.wgsl",
        "gemm/tile8.wgsl",
        "winograd/conv2d_winograd_weight_gemm.wgsl",
    ],
    Conv2dWinogradWeightOutput => [
        "winograd/winograd_common.wgsl",
        "winograd/xi_read.wgsl",
        "winograd/conv2d_winograd_weight_output.wgsl",
        "common/elementwise_64.wgsl",
    ],
    DenseForward => gemm ["gemm/dense_common.wgsl", "gemm/dense_forward.wgsl"],
    DenseBackwardInput => gemm ["gemm/dense_common.wgsl", "gemm/dense_backward_input.wgsl"],
    DenseBackwardWeight => gemm ["gemm/dense_common.wgsl", "gemm/dense_backward_weight.wgsl"],
    ReluForward => [
        "common/len_params.wgsl",
        "pointwise/relu_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    ReluBackward => [
        "common/len_params.wgsl",
        "pointwise/relu_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    Relu6Forward => [
        "common/len_params.wgsl",
        "pointwise/relu6_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    Relu6Backward => [
        "common/len_params.wgsl",
        "pointwise/relu6_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    ReluMask => [
        "common/len_params.wgsl",
        "pointwise/relu_mask.wgsl",
        "common/elementwise.wgsl",
    ],
    AddForward => [
        "common/len_params.wgsl",
        "pointwise/add_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    AddBackward => [
        "common/len_params.wgsl",
        "pointwise/add_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    DropoutForward => ["pointwise/dropout_forward.wgsl", "common/elementwise.wgsl"],
    DropoutBackward => [
        "common/len_params.wgsl",
        "pointwise/dropout_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    ConcatForward => [
        "pointwise/concat_common.wgsl",
        "pointwise/concat_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    ConcatBackward => [
        "pointwise/concat_common.wgsl",
        "pointwise/concat_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    GapForward => [
        "pool/gap_common.wgsl",
        "pool/gap_forward_common.wgsl",
        "common/workgroup_sum.wgsl",
        "pool/gap_forward.wgsl",
    ],
    GapForwardSerial => [
        "pool/gap_common.wgsl",
        "pool/gap_forward_common.wgsl",
        "pool/gap_forward_serial.wgsl",
        "common/elementwise_64.wgsl",
    ],
    GapBackward => [
        "pool/gap_common.wgsl",
        "pool/gap_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    MaxPoolForward => [
        "common/planes.wgsl",
        "pool/pool_common.wgsl",
        "pool/max_pool_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    MaxPoolBackward => [
        "common/planes.wgsl",
        "pool/pool_common.wgsl",
        "pool/max_pool_backward_common.wgsl",
        "pool/max_pool_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    MaxPoolBackwardScatter => [
        "pool/pool_common.wgsl",
        "pool/max_pool_backward_common.wgsl",
        "pool/max_pool_backward_scatter.wgsl",
        "common/elementwise.wgsl",
    ],
    AvgPoolForward => [
        "common/planes.wgsl",
        "pool/pool_common.wgsl",
        "pool/avg_pool_forward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    AvgPoolBackward => [
        "common/planes.wgsl",
        "pool/pool_common.wgsl",
        "pool/avg_pool_backward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    AdaptiveAvgPoolForward => [
        "common/planes.wgsl",
        "pool/adaptive_pool_common.wgsl",
        "pool/adaptive_avg_pool_forward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    AdaptiveAvgPoolBackward => [
        "common/planes.wgsl",
        "pool/adaptive_pool_common.wgsl",
        "pool/adaptive_avg_pool_backward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    PadForward => [
        "common/planes.wgsl",
        "spatial/pad_common.wgsl",
        "spatial/pad_forward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    PadBackward => [
        "common/planes.wgsl",
        "spatial/pad_common.wgsl",
        "spatial/pad_backward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    BlurForward => [
        "common/planes.wgsl",
        "spatial/blur_common.wgsl",
        "spatial/blur_forward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    BlurBackward => [
        "common/planes.wgsl",
        "spatial/blur_common.wgsl",
        "spatial/blur_backward.wgsl",
        "common/plane_io.wgsl",
        "common/elementwise.wgsl",
    ],
    BatchnormStats => [
        "common/channel_reduce.wgsl",
        "common/workgroup_sum.wgsl",
        "norm/batchnorm_common.wgsl",
        "norm/batchnorm_stats.wgsl",
    ],
    BatchnormForward => [
        "norm/batchnorm_common.wgsl",
        "norm/batchnorm_forward.wgsl",
        "common/elementwise.wgsl",
    ],
    BatchnormBackwardReduce => [
        "common/channel_reduce.wgsl",
        "common/workgroup_sum.wgsl",
        "norm/batchnorm_common.wgsl",
        "norm/batchnorm_backward_reduce.wgsl",
    ],
    BatchnormBackward => [
        "norm/batchnorm_common.wgsl",
        "norm/batchnorm_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    SoftmaxCeForward => ["loss/softmax_ce_common.wgsl", "loss/softmax_ce_forward.wgsl"],
    SoftmaxCeBackward => [
        "loss/softmax_ce_common.wgsl",
        "loss/softmax_ce_backward.wgsl",
        "common/elementwise.wgsl",
    ],
    SgdUpdate => [
        "optim/optim_common.wgsl",
        "optim/sgd_update.wgsl",
        "common/elementwise.wgsl",
    ],
    AdamUpdate => [
        "optim/optim_common.wgsl",
        "optim/adam_update.wgsl",
        "common/elementwise.wgsl",
    ],
    CanvasPlace => [
        "common/planes.wgsl",
        "data/canvas_place.wgsl",
        "common/elementwise.wgsl",
    ],
}

impl Kernel {
    /// The whole WGSL module of this primitive with GEMM body `gemm` where it needs one.
    pub fn source_for(self, gemm: Gemm) -> String {
        match (gemm, self.registers_source()) {
            (Gemm::Registers, Some(own)) => own.to_string(),
            _ if self.is_gemm() => format!("{}{}", self.own_source(), gemm.body()),
            _ => self.own_source().to_string(),
        }
    }
}

/// Which matrix-multiply body the implicit-GEMM primitives use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gemm {
    /// `matmul_tiled.wgsl`: 64×64 output tiles, A and B staged through workgroup memory in
    /// 16-deep slabs between barriers. For hardware GPUs.
    Tiled,
    /// `matmul_registers.wgsl`: 32×32 tiles, 4×4 per thread in registers, no workgroup memory
    /// and no barrier. For software adapters, where a barrier switches between coroutines:
    /// measured in `convplay bench --backend gpu` and `scripts/bench-browser.sh`. Stride-1
    /// convolutions take the strip kernels instead (`conv_strip_common.wgsl`,
    /// `conv2d_backward_weight_strip.wgsl`): 8 channels × 8 pixels per thread in one flat loop,
    /// four times the multiply-adds per load, which is what a software adapter pays for. Their
    /// 3×3 passes run as Winograd F(2×2, 3×3) (`winograd_common.wgsl`; 16 multiply-adds where
    /// the direct form does 36) where the channels summed over number 8 or more: the input's
    /// for the forward, the output's for the input gradient, both for the weight gradient.
    Registers,
}

impl Gemm {
    /// The body for an adapter: registers on a software one (lavapipe, SwiftShader, WARP).
    pub fn for_adapter(software: bool) -> Self {
        if software {
            Gemm::Registers
        } else {
            Gemm::Tiled
        }
    }

    /// The body this one is not: benches and tests compare the two on one device.
    pub fn other(self) -> Self {
        match self {
            Gemm::Tiled => Gemm::Registers,
            Gemm::Registers => Gemm::Tiled,
        }
    }

    fn body(self) -> &'static str {
        match self {
            Gemm::Tiled => shader!("gemm/matmul_tiled.wgsl"),
            Gemm::Registers => shader!("gemm/registers_common.wgsl", "gemm/matmul_registers.wgsl"),
        }
    }

    /// The output tile (`TILE_M`, `TILE_N`) one workgroup computes.
    pub fn tile(self) -> (u32, u32) {
        match self {
            Gemm::Tiled => (64, 64),
            Gemm::Registers => (32, 32),
        }
    }

    fn constants(self) -> Vec<(&'static str, f64)> {
        let (m, n) = self.tile();
        let mut c = vec![("TILE_M", m as f64), ("TILE_N", n as f64)];
        if self == Gemm::Tiled {
            c.push(("TILE_K", TILE_K as f64));
        }
        c
    }
}

/// The depth of one K slab of `matmul_tiled.wgsl`.
pub const TILE_K: u32 = 16;
/// Threads per workgroup of the element-wise kernels (`common/elementwise.wgsl`).
pub const WG: u32 = 256;

/// Every primitive's pipeline, each built on its first use: a model builds only the kernels it
/// runs, and a context opened just to see whether WebGPU is there builds none. (In Chromium on
/// SwiftShader, creating all 39 took about 2.5 s of GPU-process time; the shaders themselves
/// compile on their first dispatch either way.)
pub(crate) struct Kernels {
    device: wgpu::Device,
    pipelines: Vec<std::sync::OnceLock<wgpu::ComputePipeline>>,
    pub(crate) gemm: Gemm,
}

impl Kernels {
    pub(crate) fn new(device: &wgpu::Device, gemm: Gemm) -> Self {
        Self {
            device: device.clone(),
            pipelines: Kernel::ALL
                .iter()
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            gemm,
        }
    }

    pub(crate) fn pipeline(&self, k: Kernel) -> &wgpu::ComputePipeline {
        self.pipelines[k.index()].get_or_init(|| self.build(k))
    }

    fn build(&self, k: Kernel) -> wgpu::ComputePipeline {
        let gemm = self.gemm;
        let tiles = gemm.constants();
        let label = format!("{k:?}");
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(k.source_for(gemm).into()),
            });
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: if k.is_gemm() { &tiles } else { &[] },
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::{Gemm, Kernel};
    use wgpu::naga;

    #[test]
    fn index_is_the_place_in_all() {
        for (i, k) in Kernel::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
    }

    /// Every kernel's module with each GEMM body parses and validates as wgpu checks it before
    /// compiling: a missing include or a name declared by two of a kernel's files fails here, on
    /// any machine, before a test dispatches the kernel. Each module has one entry point, `main`.
    #[test]
    fn every_kernel_is_valid_wgsl() {
        for k in Kernel::ALL {
            for gemm in [Gemm::Tiled, Gemm::Registers] {
                let src = k.source_for(gemm);
                let module = naga::front::wgsl::parse_str(&src)
                    .unwrap_or_else(|e| panic!("{k:?} ({gemm:?}): {}", e.emit_to_string(&src)));
                naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::default(),
                )
                .validate(&module)
                .unwrap_or_else(|e| panic!("{k:?} ({gemm:?}): {}", e.emit_to_string(&src)));
                let entries: Vec<&str> = module
                    .entry_points
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                assert_eq!(entries, ["main"], "{k:?} ({gemm:?})");
            }
        }
    }
}
