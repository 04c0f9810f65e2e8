//! Where a CPU training step's time goes, by op family, for `convplay bench`.
//!
//! Off unless [`enable`]d; then every CPU backend primitive, the loss, the optimizer and the
//! batch's preparation time themselves on the calling thread ([`call`]: wall time). Inside a
//! call that runs on every core, the parts worth telling apart (the matrix multiply, im2col,
//! bias and ReLU) time themselves on whichever thread runs them ([`leaf`]: thread time); the
//! call's wall time is then shared among them in proportion, so imbalance between threads is
//! charged to the parts that caused it. Shares are of wall time and add up to the step: what no
//! call covers (the walker, scratch bookkeeping, the step's serial glue) is "other".
//!
//! On wasm32 there is no clock to read here, and every guard is a no-op.

#[cfg(not(target_arch = "wasm32"))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;

/// The op families a step's time is reported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Matrix multiplies: convolutions' and dense layers' products.
    Gemm,
    /// im2col and col2im around a convolution's product, Winograd's transforms around its
    /// products, and direct convolution kernels' gathers.
    Im2col,
    /// Max, average, global average and adaptive pooling.
    Pooling,
    /// ReLU and its masks, biases, dropout, residual adds, concatenation, padding, blur.
    Elementwise,
    /// Batch normalisation, forward and backward.
    BatchNorm,
    /// The loss, its gradient and the batch's placement on the canvas.
    LossData,
    /// The optimizer's update, and summing and checking gradients.
    Optimizer,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::Gemm,
        Family::Im2col,
        Family::Pooling,
        Family::Elementwise,
        Family::BatchNorm,
        Family::LossData,
        Family::Optimizer,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Family::Gemm => "gemm",
            Family::Im2col => "im2col",
            Family::Pooling => "pooling",
            Family::Elementwise => "elementwise",
            Family::BatchNorm => "batch norm",
            Family::LossData => "loss and data",
            Family::Optimizer => "optimizer",
        }
    }
}

const F: usize = Family::ALL.len();

#[cfg(not(target_arch = "wasm32"))]
static ON: AtomicBool = AtomicBool::new(false);
/// Wall nanoseconds charged to each family.
#[cfg(not(target_arch = "wasm32"))]
static WALL: [AtomicU64; F] = [const { AtomicU64::new(0) }; F];
/// Thread nanoseconds of leaf sections, per family.
#[cfg(not(target_arch = "wasm32"))]
static LEAF: [AtomicU64; F] = [const { AtomicU64::new(0) }; F];

/// Wall seconds per family since the last [`enable`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Profile {
    pub seconds: [f64; F],
}

impl Profile {
    pub fn total(&self) -> f64 {
        self.seconds.iter().sum()
    }
    pub fn get(&self, f: Family) -> f64 {
        self.seconds[f as usize]
    }
}

/// Zeroes the counters and turns timing on (`true`) or off.
pub fn enable(on: bool) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        for c in WALL.iter().chain(&LEAF) {
            c.store(0, Relaxed);
        }
        ON.store(on, Relaxed);
    }
    #[cfg(target_arch = "wasm32")]
    let _ = on;
}

/// What has been charged since the last [`enable`].
pub fn read() -> Profile {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut p = Profile::default();
        for (s, c) in p.seconds.iter_mut().zip(&WALL) {
            *s = c.load(Relaxed) as f64 * 1e-9;
        }
        p
    }
    #[cfg(target_arch = "wasm32")]
    Profile::default()
}

/// Times a call on the calling thread until dropped.
#[must_use]
pub struct Call {
    #[cfg(not(target_arch = "wasm32"))]
    start: Option<(Instant, [u64; F])>,
    #[cfg(not(target_arch = "wasm32"))]
    family: Family,
}

/// Times one section on the thread that runs it until dropped.
#[must_use]
pub struct Leaf {
    #[cfg(not(target_arch = "wasm32"))]
    start: Option<Instant>,
    #[cfg(not(target_arch = "wasm32"))]
    family: Family,
}

/// A call charged to `family`, or, if leaf sections ran inside it, to theirs in proportion.
#[inline]
pub fn call(family: Family) -> Call {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let start = ON.load(Relaxed).then(|| {
            (
                Instant::now(),
                std::array::from_fn(|i| LEAF[i].load(Relaxed)),
            )
        });
        Call { start, family }
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = family;
        Call {}
    }
}

/// A section inside a call, on whichever thread runs it.
#[inline]
pub fn leaf(family: Family) -> Leaf {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let start = ON.load(Relaxed).then(Instant::now);
        Leaf { start, family }
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = family;
        Leaf {}
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Leaf {
    fn drop(&mut self) {
        if let Some(t) = self.start {
            LEAF[self.family as usize].fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Call {
    fn drop(&mut self) {
        let Some((t, before)) = self.start else {
            return;
        };
        let wall = t.elapsed().as_nanos() as u64;
        let leaf: [u64; F] =
            std::array::from_fn(|i| LEAF[i].load(Relaxed).saturating_sub(before[i]));
        let sum: u64 = leaf.iter().sum();
        if sum == 0 {
            WALL[self.family as usize].fetch_add(wall, Relaxed);
            return;
        }
        // Shared in proportion; the rounding remainder goes to the call's own family.
        let mut given = 0;
        for (i, &l) in leaf.iter().enumerate() {
            let part = (wall as u128 * l as u128 / sum as u128) as u64;
            WALL[i].fetch_add(part, Relaxed);
            given += part;
        }
        WALL[self.family as usize].fetch_add(wall - given, Relaxed);
    }
}
