//! Data parallelism that gives the same bits whatever the thread count.
//!
//! Natively, work items run on rayon's pool; on wasm32 they run one after another. Callers split
//! work into items whose boundaries do not depend on the number of threads, so every reduction
//! happens in the same order on 1 thread or 16.

/// Calls `f(i, chunk)` for each `chunk_len`-sized chunk of `data` (the last may be shorter).
pub fn for_each_chunk_mut<T: Send, F>(data: &mut [T], chunk_len: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if data.is_empty() || chunk_len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
    #[cfg(target_arch = "wasm32")]
    {
        data.chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

/// Runs `f` with `len` elements of this thread's reusable buffer `key` (grown as needed and
/// never cleared: `f` writes before it reads), so that a step allocates nothing; or with a fresh
/// buffer when this thread is already using `key` (a parallel task of an outer call, run on this
/// thread while it waited, that needs the same buffer).
pub fn with_scratch<T: Clone + Default, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Vec<T>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, T::default());
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![T::default(); len]),
    })
}

/// Elements per work item of [`for_each_span_mut`]: 64 KiB of f32, big enough that scheduling
/// is noise beside the work, small enough to spread one layer's activations over every core.
pub const SPAN: usize = 1 << 14;

/// Calls `f(start, piece)` for consecutive [`SPAN`]-long pieces of `data`, in parallel: for
/// element-wise work, whose result does not depend on how it is split.
pub fn for_each_span_mut<T: Send, F>(data: &mut [T], f: F)
where
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    for_each_chunk_mut(data, SPAN, |i, piece| f(i * SPAN, piece));
}

/// Three slices of one length split in lockstep into [`SPAN`]-long pieces, in parallel:
/// `f(start, a_piece, b_piece, c_piece)`, for element-wise work such as the optimizer's update.
pub fn for_each_span3_mut<F>(a: &mut [f32], b: &mut [f32], c: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync + Send,
{
    assert!(a.len() == b.len() && a.len() == c.len());
    for_each_chunk3_mut(a, SPAN, b, SPAN, c, SPAN, |i, x, y, z| f(i * SPAN, x, y, z));
}

/// Three slices split in lockstep, in parallel: item `i` gets `a[i*a_len..]`, `b[i*b_len..]`
/// and `c[i*c_len..]` (as many items as `a` has chunks).
pub fn for_each_chunk3_mut<A: Send, B: Send, C: Send, F>(
    a: &mut [A],
    a_len: usize,
    b: &mut [B],
    b_len: usize,
    c: &mut [C],
    c_len: usize,
    f: F,
) where
    F: Fn(usize, &mut [A], &mut [B], &mut [C]) + Sync + Send,
{
    if a.is_empty() || a_len == 0 || b_len == 0 || c_len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(a_len)
            .zip(b.par_chunks_mut(b_len))
            .zip(c.par_chunks_mut(c_len))
            .enumerate()
            .for_each(|(i, ((x, y), z))| f(i, x, y, z));
    }
    #[cfg(target_arch = "wasm32")]
    {
        a.chunks_mut(a_len)
            .zip(b.chunks_mut(b_len))
            .zip(c.chunks_mut(c_len))
            .enumerate()
            .for_each(|(i, ((x, y), z))| f(i, x, y, z));
    }
}

/// Calls `f(i, &mut a[i], &mut b[i], &mut c[i])` for every index of three slices of one length,
/// in parallel: per-channel work with three outputs (batch norm's statistics).
pub fn for_each_zip3_mut<A: Send, B: Send, C: Send, F>(a: &mut [A], b: &mut [B], c: &mut [C], f: F)
where
    F: Fn(usize, &mut A, &mut B, &mut C) + Sync + Send,
{
    assert!(a.len() == b.len() && a.len() == c.len());
    for_each_chunk3_mut(a, 1, b, 1, c, 1, |i, x, y, z| {
        f(i, &mut x[0], &mut y[0], &mut z[0])
    });
}

/// Two slices split in lockstep: item `i` gets `a[i*a_len..]` and `b[i*b_len..]`.
pub fn for_each_chunk_pair_mut<A: Send, B: Send, F>(
    a: &mut [A],
    a_len: usize,
    b: &mut [B],
    b_len: usize,
    f: F,
) where
    F: Fn(usize, &mut [A], &mut [B]) + Sync + Send,
{
    if a.is_empty() || a_len == 0 || b_len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(a_len)
            .zip(b.par_chunks_mut(b_len))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }
    #[cfg(target_arch = "wasm32")]
    {
        a.chunks_mut(a_len)
            .zip(b.chunks_mut(b_len))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }
}

/// Number of threads work is spread over (1 on wasm32).
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}
