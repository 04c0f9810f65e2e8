//! The 64×64 drawing: ink as grey levels in `[0, 1]`, strokes drawn with a soft round brush about
//! as wide as an MNIST pen stroke, and the whole digit moved by whole pixels. Pure data, so the
//! canvas component stays thin and this is tested without a browser.

use crate::protocol::Image;

/// Side of the drawing canvas in pixels.
pub const SIDE: usize = 64;
/// Radius of the brush in pixels; MNIST strokes are 2–3 px wide.
const BRUSH: f32 = 1.4;

#[derive(Clone, Debug, PartialEq)]
pub struct Drawing {
    pub pixels: Vec<f32>,
}

impl Default for Drawing {
    fn default() -> Self {
        Drawing {
            pixels: vec![0.0; SIDE * SIDE],
        }
    }
}

impl Drawing {
    pub fn is_empty(&self) -> bool {
        self.pixels.iter().all(|&p| p <= 0.0)
    }

    pub fn clear(&mut self) {
        self.pixels.fill(0.0);
    }

    /// Ink along the segment from `a` to `b` (canvas pixel coordinates, fractional).
    pub fn stroke(&mut self, a: (f32, f32), b: (f32, f32)) {
        let length = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let steps = (length * 3.0).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            self.dab(a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        }
    }

    /// One round soft dab of the brush centred at `(x, y)`.
    fn dab(&mut self, x: f32, y: f32) {
        let reach = BRUSH + 1.0;
        let (x0, x1) = ((x - reach).floor().max(0.0), (x + reach).ceil());
        let (y0, y1) = ((y - reach).floor().max(0.0), (y + reach).ceil());
        for py in y0 as usize..(y1 as usize).min(SIDE) {
            for px in x0 as usize..(x1 as usize).min(SIDE) {
                let d = ((px as f32 + 0.5 - x).powi(2) + (py as f32 + 0.5 - y).powi(2)).sqrt();
                let ink = (BRUSH + 0.5 - d).clamp(0.0, 1.0);
                let p = &mut self.pixels[py * SIDE + px];
                *p = p.max(ink);
            }
        }
    }

    /// The drawing moved by `(dx, dy)` whole pixels; ink pushed off the canvas is lost.
    pub fn shifted(&self, dx: i32, dy: i32) -> Drawing {
        let mut out = Drawing::default();
        for y in 0..SIDE as i32 {
            for x in 0..SIDE as i32 {
                let (sx, sy) = (x - dx, y - dy);
                if (0..SIDE as i32).contains(&sx) && (0..SIDE as i32).contains(&sy) {
                    out.pixels[(y as usize) * SIDE + x as usize] =
                        self.pixels[sy as usize * SIDE + sx as usize];
                }
            }
        }
        out
    }

    /// `image` (at most 64×64) placed with its top-left corner at `(left, top)`, clipped.
    pub fn place(image: &Image, left: usize, top: usize) -> Drawing {
        let mut out = Drawing::default();
        for y in 0..image.side {
            for x in 0..image.side {
                let (cx, cy) = (left + x, top + y);
                if cx < SIDE && cy < SIDE {
                    out.pixels[cy * SIDE + cx] = image.pixels[y * image.side + x];
                }
            }
        }
        out
    }

    /// `image` centred, as the training digits are.
    pub fn centred(image: &Image) -> Drawing {
        let offset = SIDE.saturating_sub(image.side) / 2;
        Drawing::place(image, offset, offset)
    }

    pub fn image(&self) -> Image {
        Image {
            side: SIDE,
            pixels: self.pixels.clone(),
        }
    }

    /// RGBA bytes for a canvas: white ink on black, as the network sees it.
    pub fn rgba(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|&p| {
                let v = (p.clamp(0.0, 1.0) * 255.0).round() as u8;
                [v, v, v, 255]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_stroke_inks_its_path_and_nothing_far_from_it() {
        let mut d = Drawing::default();
        assert!(d.is_empty());
        d.stroke((10.0, 32.0), (50.0, 32.0));
        assert!(!d.is_empty());
        for x in 11..50 {
            assert_eq!(d.pixels[32 * SIDE + x], 1.0, "x = {x}");
        }
        assert_eq!(d.pixels[40 * SIDE + 30], 0.0);
        assert_eq!(d.pixels[32 * SIDE + 60], 0.0);
        d.clear();
        assert!(d.is_empty());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn strokes_at_the_edge_stay_inside() {
        let mut d = Drawing::default();
        d.stroke((-5.0, -5.0), (70.0, 70.0));
        assert_eq!(d.pixels.len(), SIDE * SIDE);
        assert_eq!(d.pixels[0], 1.0);
        assert_eq!(d.pixels[SIDE * SIDE - 1], 1.0);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn shifting_moves_ink_and_drops_what_leaves() {
        let mut d = Drawing::default();
        d.pixels[10 * SIDE + 10] = 1.0;
        d.pixels[63] = 0.5;
        let s = d.shifted(3, -2);
        assert_eq!(s.pixels[8 * SIDE + 13], 1.0);
        assert_eq!(s.pixels.iter().filter(|&&p| p > 0.0).count(), 1);
        assert_eq!(s.shifted(-3, 2).pixels[10 * SIDE + 10], 1.0);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_28_pixel_digit_is_centred_at_offset_18() {
        let mut pixels = vec![0.0; 28 * 28];
        pixels[0] = 1.0;
        pixels[28 * 28 - 1] = 0.25;
        let d = Drawing::centred(&Image { side: 28, pixels });
        assert_eq!(d.pixels[18 * SIDE + 18], 1.0);
        assert_eq!(d.pixels[45 * SIDE + 45], 0.25);
        assert_eq!(d.rgba()[(18 * SIDE + 18) * 4..][..4], [255, 255, 255, 255]);
    }
}
