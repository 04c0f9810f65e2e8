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

/// One channel's planes of a `[n, c, plane]` tensor, handed to [`for_each_channel_mut`]'s
/// task for that channel: plane `i` is image `i`'s.
pub struct ChannelPlanes<'a> {
    ptr: *mut f32,
    n: usize,
    stride: usize,
    plane: usize,
    _data: std::marker::PhantomData<&'a mut [f32]>,
}

impl ChannelPlanes<'_> {
    /// Image `i`'s plane of this channel (one at a time: the borrow ends before the next).
    pub fn plane(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.n, "plane {i} of {}", self.n);
        // SAFETY: `for_each_channel_mut` checked that `data` holds `n` images of `stride =
        // c·plane` floats and made `ptr` point at this channel's plane of image 0, so plane `i`
        // lies inside `data`; no other task gets this channel, and `&mut self` lends one plane
        // at a time.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.stride), self.plane) }
    }
}

/// A pointer that tasks of [`for_each_channel_mut`] share; each derives its own channel's
/// planes from it, which no other task touches.
#[derive(Clone, Copy)]
struct Base(*mut f32);

impl Base {
    /// The pointer (a method, so that closures capture the whole `Base`, which is `Sync`, and
    /// not its field).
    fn get(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: see `ChannelPlanes::plane`: tasks write disjoint planes.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

/// Calls `f(ch, &mut per[ch], planes)` for every channel of `data` (`[n, c, plane]`), in
/// parallel, `planes` lending that channel's plane of each image: per-channel work that reads a
/// channel's statistics and writes its planes in one task, while they are in cache (batch
/// norm).
pub fn for_each_channel_mut<T: Send, F>(
    data: &mut [f32],
    c: usize,
    plane: usize,
    per: &mut [T],
    f: F,
) where
    F: Fn(usize, &mut T, ChannelPlanes) + Sync + Send,
{
    assert_eq!(per.len(), c, "one item per channel");
    if c == 0 || plane == 0 {
        return;
    }
    assert!(data.len().is_multiple_of(c * plane), "whole images");
    let (n, base) = (data.len() / (c * plane), Base(data.as_mut_ptr()));
    let run = |ch: usize, t: &mut T| {
        let planes = ChannelPlanes {
            // SAFETY: ch < c, so ch·plane is inside image 0 (or one past the end if n = 0, which
            // `plane` never dereferences).
            ptr: unsafe { base.get().add(if n == 0 { 0 } else { ch * plane }) },
            n,
            stride: c * plane,
            plane,
            _data: std::marker::PhantomData,
        };
        f(ch, t, planes)
    };
    for_each_chunk_mut(per, 1, |ch, t| run(ch, &mut t[0]));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each channel's task gets exactly its planes, image by image, and nothing else: every
    /// element is written once, by the right task, with the right image's plane.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn channel_planes_cover_each_plane_once() {
        for (n, c, plane) in [(3, 5, 7), (1, 1, 1), (4, 64, 49), (0, 3, 4), (2, 3, 0)] {
            let mut data = vec![f32::NAN; n * c * plane];
            let mut per = vec![0usize; c];
            for_each_channel_mut(&mut data, c, plane, &mut per, |ch, count, mut planes| {
                for i in 0..n {
                    let p = planes.plane(i);
                    assert_eq!(p.len(), plane);
                    for (k, v) in p.iter_mut().enumerate() {
                        assert!(v.is_nan(), "written twice");
                        *v = ((i * c + ch) * plane + k) as f32;
                    }
                    *count += 1;
                }
            });
            let expected: Vec<f32> = (0..n * c * plane).map(|v| v as f32).collect();
            assert_eq!(data, expected, "{n}×{c}×{plane}");
            assert!(per.iter().all(|&k| k == if plane == 0 { 0 } else { n }));
        }
    }

    #[test]
    #[should_panic(expected = "plane 2 of 2")]
    fn channel_planes_refuse_an_image_past_the_batch() {
        let mut data = vec![0.0; 2 * 3 * 4];
        let mut per = vec![(); 3];
        for_each_channel_mut(&mut data, 3, 4, &mut per, |_, _, mut planes| {
            planes.plane(2);
        });
    }

    #[test]
    #[should_panic(expected = "whole images")]
    fn channel_planes_refuse_a_partial_image() {
        let mut data = vec![0.0; 2 * 3 * 4 + 1];
        let mut per = vec![(); 3];
        for_each_channel_mut(&mut data, 3, 4, &mut per, |_, _, _| {});
    }
}
