//! The `#[repr(C)]` params structs, each mirroring the uniform `P` of its shaders under
//! `shaders/` field for field (16-byte multiples, as WGSL lays uniforms out).

use bytemuck::{Pod, Zeroable};

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

/// Mirrors `LenParams` in `common/len_params.wgsl` (padded to 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LenParams {
    pub len: u32,
    pub _pad: [u32; 3],
}

/// Mirrors `GapParams` in `gap_common.wgsl`: `count` planes (the forwards) or elements of dx
/// (the backward), each plane of `plane` elements.
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

/// Mirrors `AdaptivePoolParams` in `adaptive_pool_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AdaptivePoolParams {
    pub planes: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub h_out: u32,
    pub w_out: u32,
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

/// Mirrors `SoftmaxParams` in `softmax_ce_common.wgsl`.
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

/// Mirrors `ConcatParams` in `concat_common.wgsl`.
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
