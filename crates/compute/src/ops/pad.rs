//! Explicit spatial padding with a choice of fill: zeros, reflection, or wrap-around (circular).
//!
//! Shapes: x `[n, c, h, w]`, y `[n, c, top + h + bottom, left + w + right]`. A convolution with
//! `same` padding in reflect or circular mode is this op followed by a `valid` convolution.
//! Circular padding makes a stride-1 convolution exactly equivariant to cyclic shifts: the image
//! has no border for the network to locate things against (Kayhan & van Gemert 2020).
//!
//! Backward is the adjoint: each output cell's gradient goes back to the input cell it copied
//! (several output cells may copy the same input cell).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::par;

/// What fills the border a window op pads its input with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// Zeros (Keras's and PyTorch's default).
    #[default]
    Zeros,
    /// Mirror without repeating the edge: `[a b c d]` padded by 2 is `c b | a b c d | c b`.
    Reflect,
    /// Wrap around: `[a b c d]` padded by 2 is `c d | a b c d | a b`.
    Circular,
}

impl PadMode {
    pub fn is_zeros(&self) -> bool {
        *self == PadMode::Zeros
    }

    pub fn name(self) -> &'static str {
        match self {
            PadMode::Zeros => "zeros",
            PadMode::Reflect => "reflect",
            PadMode::Circular => "circular",
        }
    }

    /// The input index that padded position `i` (relative to the input's first cell) copies, or
    /// `None` for a zero. `len` ≥ 1; reflection assumes `-len < i < 2·len − 1`, which
    /// [`PadGeom::new`] guarantees.
    fn source(self, i: isize, len: usize) -> Option<usize> {
        let n = len as isize;
        if (0..n).contains(&i) {
            return Some(i as usize);
        }
        match self {
            PadMode::Zeros => None,
            PadMode::Reflect => {
                let r = if i < 0 { -i } else { 2 * (n - 1) - i };
                Some(r as usize)
            }
            PadMode::Circular => Some(i.rem_euclid(n) as usize),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadGeom {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
    pub mode: PadMode,
}

impl PadGeom {
    /// Checks the pads against the input: reflection needs each pad smaller than the side
    /// (PyTorch's rule), wrap-around at most the side.
    pub fn new(
        input: [usize; 3],
        [top, bottom, left, right]: [usize; 4],
        mode: PadMode,
    ) -> Result<Self, String> {
        let [c, h_in, w_in] = input;
        if c == 0 || h_in == 0 || w_in == 0 {
            return Err(format!("cannot pad an empty {c}×{h_in}×{w_in} input"));
        }
        let (max_h, max_w) = match mode {
            PadMode::Zeros => (usize::MAX, usize::MAX),
            PadMode::Reflect => (h_in - 1, w_in - 1),
            PadMode::Circular => (h_in, w_in),
        };
        if top.max(bottom) > max_h || left.max(right) > max_w {
            return Err(format!(
                "{} padding of {top},{bottom} rows and {left},{right} columns does not fit the {h_in}×{w_in} input",
                mode.name()
            ));
        }
        Ok(Self {
            c,
            h_in,
            w_in,
            top,
            bottom,
            left,
            right,
            mode,
        })
    }
    pub fn h_out(&self) -> usize {
        self.top + self.h_in + self.bottom
    }
    pub fn w_out(&self) -> usize {
        self.left + self.w_in + self.right
    }
    pub fn in_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    pub fn out_len(&self) -> usize {
        self.c * self.h_out() * self.w_out()
    }
    fn check(&self, op: &'static str, x: usize, y: usize, n: usize) -> Result<()> {
        if x != n * self.in_len() || y != n * self.out_len() {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("x {} and y {}", n * self.in_len(), n * self.out_len()),
                got: format!("x {x} and y {y}"),
            });
        }
        Ok(())
    }
    /// The source column of every output column (`None` = zero), computed once per call.
    fn columns(&self) -> Vec<Option<usize>> {
        (0..self.w_out())
            .map(|ox| {
                self.mode
                    .source(ox as isize - self.left as isize, self.w_in)
            })
            .collect()
    }
    fn row_source(&self, oy: usize) -> Option<usize> {
        self.mode.source(oy as isize - self.top as isize, self.h_in)
    }
}

/// y = pad(x). Overwrites `y`.
pub fn pad_forward(y: &mut [f32], x: &[f32], g: &PadGeom, n: usize) -> Result<()> {
    g.check("pad_forward", x.len(), y.len(), n)?;
    let (hw_in, wo) = (g.h_in * g.w_in, g.w_out());
    let cols = g.columns();
    par::for_each_chunk_mut(y, g.h_out() * wo, |p, plane| {
        let src = &x[p * hw_in..(p + 1) * hw_in];
        for (oy, row) in plane.chunks_exact_mut(wo).enumerate() {
            let Some(iy) = g.row_source(oy) else {
                row.fill(0.0);
                continue;
            };
            let srow = &src[iy * g.w_in..(iy + 1) * g.w_in];
            row[g.left..g.left + g.w_in].copy_from_slice(srow);
            for ox in (0..g.left).chain(g.left + g.w_in..wo) {
                row[ox] = cols[ox].map_or(0.0, |ix| srow[ix]);
            }
        }
    });
    Ok(())
}

/// dx += the gradient of every output cell, sent to the input cell it copied.
pub fn pad_backward(dx: &mut [f32], dy: &[f32], g: &PadGeom, n: usize) -> Result<()> {
    g.check("pad_backward", dx.len(), dy.len(), n)?;
    let (hw_out, wo) = (g.h_out() * g.w_out(), g.w_out());
    let cols = g.columns();
    par::for_each_chunk_mut(dx, g.h_in * g.w_in, |p, plane| {
        let src = &dy[p * hw_out..(p + 1) * hw_out];
        for (oy, row) in src.chunks_exact(wo).enumerate() {
            let Some(iy) = g.row_source(oy) else {
                continue;
            };
            let drow = &mut plane[iy * g.w_in..(iy + 1) * g.w_in];
            for (ox, &v) in row.iter().enumerate() {
                if let Some(ix) = cols[ox] {
                    drow[ix] += v;
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{check_gradient, random, weighted_sum};
    use crate::rng::Rng;

    fn pad_row(row: &[f32], pad: usize, mode: PadMode) -> Vec<f32> {
        let g = PadGeom::new([1, 1, row.len()], [0, 0, pad, pad], mode).unwrap();
        let mut y = vec![f32::NAN; g.out_len()];
        pad_forward(&mut y, row, &g, 1).unwrap();
        y
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn pad_modes_fill_the_border_as_documented() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            pad_row(&x, 2, PadMode::Zeros),
            [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]
        );
        assert_eq!(
            pad_row(&x, 2, PadMode::Reflect),
            [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
        );
        assert_eq!(
            pad_row(&x, 2, PadMode::Circular),
            [3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
        );
        assert_eq!(
            pad_row(&x, 4, PadMode::Circular),
            [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]
        );
        // Rows too: a 2×2 plane wrapped by one on every side.
        let g = PadGeom::new([1, 2, 2], [1, 1, 1, 1], PadMode::Circular).unwrap();
        let mut y = vec![0.0; 16];
        pad_forward(&mut y, &[1.0, 2.0, 3.0, 4.0], &g, 1).unwrap();
        #[rustfmt::skip]
        let want = [
            4.0, 3.0, 4.0, 3.0,
            2.0, 1.0, 2.0, 1.0,
            4.0, 3.0, 4.0, 3.0,
            2.0, 1.0, 2.0, 1.0,
        ];
        assert_eq!(y, want);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn pad_backward_matches_finite_difference_in_every_mode() {
        let mut rng = Rng::new(11);
        for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Circular] {
            for (input, pads, n) in [
                ([2, 5, 4], [1, 2, 3, 0], 2),
                ([3, 3, 3], [2, 2, 2, 2], 1),
                ([1, 6, 7], [0, 1, 1, 0], 3),
            ] {
                let g = PadGeom::new(input, pads, mode).unwrap();
                let x = random(n * g.in_len(), &mut rng);
                let r = random(n * g.out_len(), &mut rng);
                let mut dx = vec![0.0; x.len()];
                pad_backward(&mut dx, &r, &g, n).unwrap();
                let loss = |x: &[f32]| {
                    let mut y = vec![0.0; n * g.out_len()];
                    pad_forward(&mut y, x, &g, n).unwrap();
                    weighted_sum(&y, &r)
                };
                check_gradient(&format!("pad {mode:?} dx"), &x, &dx, loss, 60);
            }
        }
    }

    #[test]
    fn pads_that_do_not_fit_are_refused() {
        assert!(PadGeom::new([1, 3, 3], [3, 0, 0, 0], PadMode::Reflect).is_err());
        assert!(PadGeom::new([1, 3, 3], [2, 0, 0, 0], PadMode::Reflect).is_ok());
        assert!(PadGeom::new([1, 3, 3], [0, 0, 4, 0], PadMode::Circular).is_err());
        assert!(PadGeom::new([1, 3, 3], [9, 9, 9, 9], PadMode::Zeros).is_ok());
        let g = PadGeom::new([1, 2, 2], [1, 1, 1, 1], PadMode::Zeros).unwrap();
        assert!(pad_forward(&mut [0.0; 15], &[0.0; 4], &g, 1).is_err());
    }
}
