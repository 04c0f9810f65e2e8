//! One WGSL file per primitive pass, the `#[repr(C)]` params struct mirroring each shader's
//! uniform, and the pipelines, built once per device.
//!
//! The implicit-GEMM primitives (conv2d and dense, forward and both backwards) share one
//! matrix-multiply body appended to their own file, which supplies the loaders: on a hardware
//! GPU the workgroup-memory tiled one (`matmul_tiled.wgsl`), on a software adapter the
//! register-blocked one (`matmul_registers.wgsl`); see [`Gemm`]. Tile sizes are WGSL `override`
//! constants set here.

use bytemuck::{Pod, Zeroable};

macro_rules! shader {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("../../shaders/", $file))),+)
    };
}

/// Every compute pipeline, named like its Rust primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Conv2dForward,
    Conv2dBackwardInput,
    Conv2dBackwardWeight,
    Conv2dBackwardWeightReduce,
    BiasBackward,
    DenseForward,
    DenseBackwardInput,
    DenseBackwardWeight,
    ReluForward,
    ReluBackward,
    ReluMask,
    AddForward,
    AddBackward,
    DropoutForward,
    DropoutBackward,
    GapForward,
    GapBackward,
    MaxPoolForward,
    MaxPoolBackward,
    AvgPoolForward,
    AvgPoolBackward,
    SoftmaxCeForward,
    SoftmaxCeBackward,
    SgdUpdate,
    AdamUpdate,
    CanvasPlace,
    ConcatForward,
    ConcatBackward,
    BatchnormStats,
    BatchnormForward,
    BatchnormBackwardReduce,
    BatchnormBackward,
    PadForward,
    PadBackward,
    BlurForward,
    BlurBackward,
    Conv2dForwardStrip,
    Conv2dBackwardInputStrip,
    Conv2dBackwardWeightStrip,
    MaxPoolBackwardScatter,
    GapForwardSerial,
    Conv2dWinogradWeights,
    Conv2dWinogradInput,
    Conv2dWinogradGemm,
    Conv2dWinogradOutput,
    Conv2dWinogradDout,
    Conv2dWinogradWeightGemm,
    Conv2dWinogradWeightOutput,
}

impl Kernel {
    pub const ALL: [Kernel; 48] = [
        Kernel::Conv2dForward,
        Kernel::Conv2dBackwardInput,
        Kernel::Conv2dBackwardWeight,
        Kernel::Conv2dBackwardWeightReduce,
        Kernel::BiasBackward,
        Kernel::DenseForward,
        Kernel::DenseBackwardInput,
        Kernel::DenseBackwardWeight,
        Kernel::ReluForward,
        Kernel::ReluBackward,
        Kernel::ReluMask,
        Kernel::AddForward,
        Kernel::AddBackward,
        Kernel::DropoutForward,
        Kernel::DropoutBackward,
        Kernel::GapForward,
        Kernel::GapBackward,
        Kernel::MaxPoolForward,
        Kernel::MaxPoolBackward,
        Kernel::AvgPoolForward,
        Kernel::AvgPoolBackward,
        Kernel::SoftmaxCeForward,
        Kernel::SoftmaxCeBackward,
        Kernel::SgdUpdate,
        Kernel::AdamUpdate,
        Kernel::CanvasPlace,
        Kernel::ConcatForward,
        Kernel::ConcatBackward,
        Kernel::BatchnormStats,
        Kernel::BatchnormForward,
        Kernel::BatchnormBackwardReduce,
        Kernel::BatchnormBackward,
        Kernel::PadForward,
        Kernel::PadBackward,
        Kernel::BlurForward,
        Kernel::BlurBackward,
        Kernel::Conv2dForwardStrip,
        Kernel::Conv2dBackwardInputStrip,
        Kernel::Conv2dBackwardWeightStrip,
        Kernel::MaxPoolBackwardScatter,
        Kernel::GapForwardSerial,
        Kernel::Conv2dWinogradWeights,
        Kernel::Conv2dWinogradInput,
        Kernel::Conv2dWinogradGemm,
        Kernel::Conv2dWinogradOutput,
        Kernel::Conv2dWinogradDout,
        Kernel::Conv2dWinogradWeightGemm,
        Kernel::Conv2dWinogradWeightOutput,
    ];

    /// The primitive's own WGSL: its file, preceded by its shared geometry. An implicit GEMM
    /// still needs a matrix-multiply body appended ([`Kernel::source_for`]).
    pub fn own_source(self) -> &'static str {
        use Kernel::*;
        match self {
            Conv2dForward => shader!("conv_common.wgsl", "conv2d_forward.wgsl"),
            Conv2dBackwardInput => shader!("conv_common.wgsl", "conv2d_backward_input.wgsl"),
            Conv2dBackwardWeight => shader!("conv_common.wgsl", "conv2d_backward_weight.wgsl"),
            Conv2dBackwardWeightReduce => {
                shader!("conv_common.wgsl", "conv2d_backward_weight_reduce.wgsl")
            }
            BiasBackward => shader!("bias_backward.wgsl"),
            DenseForward => shader!("dense_common.wgsl", "dense_forward.wgsl"),
            DenseBackwardInput => shader!("dense_common.wgsl", "dense_backward_input.wgsl"),
            DenseBackwardWeight => shader!("dense_common.wgsl", "dense_backward_weight.wgsl"),
            ReluForward => shader!("relu_forward.wgsl"),
            ReluBackward => shader!("relu_backward.wgsl"),
            ReluMask => shader!("relu_mask.wgsl"),
            AddForward => shader!("add_forward.wgsl"),
            AddBackward => shader!("add_backward.wgsl"),
            DropoutForward => shader!("dropout_forward.wgsl"),
            DropoutBackward => shader!("dropout_backward.wgsl"),
            GapForward => shader!("gap_forward_common.wgsl", "gap_forward.wgsl"),
            GapForwardSerial => shader!("gap_forward_common.wgsl", "gap_forward_serial.wgsl"),
            GapBackward => shader!("gap_backward.wgsl"),
            MaxPoolForward => shader!("pool_common.wgsl", "max_pool_forward.wgsl"),
            MaxPoolBackward => shader!(
                "pool_common.wgsl",
                "max_pool_backward_common.wgsl",
                "max_pool_backward.wgsl"
            ),
            MaxPoolBackwardScatter => shader!(
                "pool_common.wgsl",
                "max_pool_backward_common.wgsl",
                "max_pool_backward_scatter.wgsl"
            ),
            AvgPoolForward => shader!("pool_common.wgsl", "avg_pool_forward.wgsl"),
            AvgPoolBackward => shader!("pool_common.wgsl", "avg_pool_backward.wgsl"),
            SoftmaxCeForward => shader!("softmax_ce_forward.wgsl"),
            SoftmaxCeBackward => shader!("softmax_ce_backward.wgsl"),
            SgdUpdate => shader!("sgd_update.wgsl"),
            AdamUpdate => shader!("adam_update.wgsl"),
            CanvasPlace => shader!("canvas_place.wgsl"),
            ConcatForward => shader!("concat_forward.wgsl"),
            ConcatBackward => shader!("concat_backward.wgsl"),
            BatchnormStats => shader!("batchnorm_common.wgsl", "batchnorm_stats.wgsl"),
            BatchnormForward => shader!("batchnorm_common.wgsl", "batchnorm_forward.wgsl"),
            BatchnormBackwardReduce => {
                shader!("batchnorm_common.wgsl", "batchnorm_backward_reduce.wgsl")
            }
            BatchnormBackward => shader!("batchnorm_common.wgsl", "batchnorm_backward.wgsl"),
            PadForward => shader!("pad_common.wgsl", "pad_forward.wgsl"),
            PadBackward => shader!("pad_common.wgsl", "pad_backward.wgsl"),
            BlurForward => shader!("blur_common.wgsl", "blur_forward.wgsl"),
            BlurBackward => shader!("blur_common.wgsl", "blur_backward.wgsl"),
            Conv2dForwardStrip => shader!(
                "conv_common.wgsl",
                "registers_common.wgsl",
                "conv2d_forward_strip.wgsl",
                "conv_strip_common.wgsl"
            ),
            Conv2dBackwardInputStrip => shader!(
                "conv_common.wgsl",
                "registers_common.wgsl",
                "conv2d_backward_input_strip.wgsl",
                "conv_strip_common.wgsl"
            ),
            Conv2dBackwardWeightStrip => shader!(
                "conv_common.wgsl",
                "registers_common.wgsl",
                "conv2d_backward_weight_strip.wgsl"
            ),
            Conv2dWinogradWeights => {
                shader!("winograd_common.wgsl", "conv2d_winograd_weights.wgsl")
            }
            Conv2dWinogradInput => shader!("winograd_common.wgsl", "conv2d_winograd_input.wgsl"),
            Conv2dWinogradGemm => shader!(
                "winograd_common.wgsl",
                "registers_common.wgsl",
                "conv2d_winograd_gemm.wgsl"
            ),
            Conv2dWinogradOutput => {
                shader!("winograd_common.wgsl", "conv2d_winograd_output.wgsl")
            }
            Conv2dWinogradDout => shader!("winograd_common.wgsl", "conv2d_winograd_dout.wgsl"),
            Conv2dWinogradWeightGemm => shader!(
                "winograd_common.wgsl",
                "registers_common.wgsl",
                "conv2d_winograd_weight_gemm.wgsl"
            ),
            Conv2dWinogradWeightOutput => {
                shader!("winograd_common.wgsl", "conv2d_winograd_weight_output.wgsl")
            }
        }
    }

    /// The whole WGSL module of this primitive with GEMM body `gemm` where it needs one.
    pub fn source_for(self, gemm: Gemm) -> String {
        use Kernel::*;
        // The convolutions have whole kernels of their own for software adapters: the generic
        // loaders' im2col index arithmetic (divisions) dominates there.
        match (self, gemm) {
            (Conv2dForward, Gemm::Registers) => {
                return shader!(
                    "conv_common.wgsl",
                    "registers_common.wgsl",
                    "conv2d_forward_registers.wgsl"
                )
                .into();
            }
            (Conv2dBackwardInput, Gemm::Registers) => {
                return shader!(
                    "conv_common.wgsl",
                    "registers_common.wgsl",
                    "conv2d_backward_input_registers.wgsl"
                )
                .into();
            }
            (Conv2dBackwardWeight, Gemm::Registers) => {
                return shader!(
                    "conv_common.wgsl",
                    "registers_common.wgsl",
                    "conv2d_backward_weight_registers.wgsl"
                )
                .into();
            }
            _ => {}
        }
        let own = self.own_source();
        if self.is_gemm() {
            format!("{own}{}", gemm.body())
        } else {
            own.to_string()
        }
    }

    fn is_gemm(self) -> bool {
        use Kernel::*;
        matches!(
            self,
            Conv2dForward
                | Conv2dBackwardInput
                | Conv2dBackwardWeight
                | DenseForward
                | DenseBackwardInput
                | DenseBackwardWeight
        )
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
            Gemm::Tiled => shader!("matmul_tiled.wgsl"),
            Gemm::Registers => shader!("registers_common.wgsl", "matmul_registers.wgsl"),
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
/// Threads per workgroup of the element-wise kernels.
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
        let i = Kernel::ALL.iter().position(|&x| x == k).unwrap_or(0);
        self.pipelines[i].get_or_init(|| self.build(k))
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

/// Mirrors `ConvParams` in `conv_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ConvParams {
    pub n: u32,
    pub c_in: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub c_out: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub groups: u32,
    pub w_off: u32,
    pub b_off: u32,
    pub has_bias: u32,
    pub relu: u32,
    pub splits: u32,
    pub split_len: u32,
    pub _pad: u32,
}

/// Mirrors `WinogradParams` in `winograd_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct WinogradParams {
    pub cs: u32,
    pub hs: u32,
    pub ws: u32,
    pub cd: u32,
    pub hd: u32,
    pub wd: u32,
    pub pad_y: u32,
    pub pad_x: u32,
    pub tiles_x: u32,
    pub tiles: u32,
    pub img0: u32,
    pub nimg: u32,
    pub tp: u32,
    pub w_base: u32,
    pub s_m: i32,
    pub s_c: i32,
    pub s_y: i32,
    pub s_x: i32,
    pub b_off: u32,
    pub has_bias: u32,
    pub relu: u32,
    pub accumulate: u32,
    pub _pad: [u32; 2],
}

/// Mirrors `DenseParams` in `dense_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct DenseParams {
    pub n: u32,
    pub inputs: u32,
    pub outputs: u32,
    pub w_off: u32,
    pub b_off: u32,
    pub has_bias: u32,
    pub relu: u32,
    pub _pad: u32,
}

/// Mirrors `BiasParams` in `bias_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct BiasParams {
    pub n: u32,
    pub c: u32,
    pub plane: u32,
    pub b_off: u32,
}

/// Mirrors `LenParams` of the element-wise shaders (padded to 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LenParams {
    pub len: u32,
    pub _pad: [u32; 3],
}

/// Mirrors `GapParams` of gap_forward (`planes`, `plane`) and gap_backward (`len`, `plane`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GapParams {
    pub count: u32,
    pub plane: u32,
    pub _pad: [u32; 2],
}

/// Mirrors `PoolParams` in `pool_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PoolParams {
    pub planes: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub size: u32,
    pub stride: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub _pad: [u32; 3],
}

/// Mirrors `DropoutParams` in `dropout_forward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct DropoutParams {
    pub len: u32,
    pub key_lo: u32,
    pub key_hi: u32,
    pub rate: f32,
    pub scale: f32,
    pub _pad: [u32; 3],
}

/// Mirrors `SoftmaxParams` in `softmax_ce_forward.wgsl` and `softmax_ce_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SoftmaxParams {
    pub n: u32,
    pub classes: u32,
    pub slot: u32,
    /// The backward's loss weight (1 for the model's head).
    pub scale: f32,
}

/// Mirrors `SgdParams` in `sgd_update.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SgdParams {
    pub len: u32,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub nesterov: u32,
    pub _pad: [u32; 3],
}

/// Mirrors `AdamParams` in `adam_update.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AdamParams {
    pub len: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bc1: f32,
    pub bc2: f32,
    pub weight_decay: f32,
}

/// Mirrors `CanvasParams` in `canvas_place.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct CanvasParams {
    pub n: u32,
    pub canvas: u32,
    pub _pad: [u32; 2],
}

/// Mirrors `ConcatParams` in `concat_forward.wgsl` and `concat_backward.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ConcatParams {
    pub n: u32,
    pub part_len: u32,
    pub total_len: u32,
    pub offset: u32,
}

/// Mirrors `BatchNormParams` in `batchnorm_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct BatchNormParams {
    pub n: u32,
    pub c: u32,
    pub plane: u32,
    pub gamma_off: u32,
    pub beta_off: u32,
    pub mean_off: u32,
    pub var_off: u32,
    pub train: u32,
    pub eps: f32,
    pub momentum: f32,
    pub _pad: [u32; 2],
}

/// Mirrors `PadParams` in `pad_common.wgsl`; `mode` 0 zeros, 1 reflect, 2 circular.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PadParams {
    pub planes: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub top: u32,
    pub left: u32,
    pub mode: u32,
}

/// Mirrors `BlurParams` in `blur_common.wgsl`; `f` holds the 1-D binomial taps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct BlurParams {
    pub planes: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub size: u32,
    pub stride: u32,
    pub _pad: u32,
    pub f: [f32; 8],
}
