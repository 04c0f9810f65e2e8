//! Spatial launchers over each plane: explicit padding and the BlurPool blur (`shaders/spatial/`),
//! both run by [`planar`].

use super::*;

/// y = x with an explicit border of zeros, reflections or wrap-around; its backward sends each
/// padded cell's gradient back to the input cell it copied.
impl Planar for PadGeom {
    const KERNELS: (Kernel, Kernel) = (Kernel::PadForward, Kernel::PadBackward);
    type Params = PadParams;

    fn params(&self, n: usize) -> Result<PadParams> {
        Ok(PadParams {
            planes: u(n * self.c)?,
            h_in: u(self.h_in)?,
            w_in: u(self.w_in)?,
            h_out: u(self.h_out())?,
            w_out: u(self.w_out())?,
            top: u(self.top)?,
            left: u(self.left)?,
            mode: match self.mode {
                PadMode::Zeros => 0,
                PadMode::Reflect => 1,
                PadMode::Circular => 2,
            },
        })
    }

    fn lens(&self) -> (usize, usize) {
        (self.in_len(), self.out_len())
    }
}

/// out = the binomial blur of x, sampled every `stride` cells (BlurPool).
impl Planar for BlurGeom {
    const KERNELS: (Kernel, Kernel) = (Kernel::BlurForward, Kernel::BlurBackward);
    type Params = BlurParams;

    fn params(&self, n: usize) -> Result<BlurParams> {
        if !(1..=MAX_BLUR_SIZE).contains(&self.size) {
            return Err(Error::Gpu(format!(
                "blur size {} is not 1..={MAX_BLUR_SIZE}",
                self.size
            )));
        }
        let mut f = [0.0; 8];
        f[..self.size].copy_from_slice(&binomial(self.size));
        Ok(BlurParams {
            planes: u(n * self.c)?,
            h_in: u(self.h_in)?,
            w_in: u(self.w_in)?,
            h_out: u(self.h_out)?,
            w_out: u(self.w_out)?,
            size: u(self.size)?,
            stride: u(self.stride)?,
            _pad: 0,
            f,
        })
    }

    fn lens(&self) -> (usize, usize) {
        (self.in_len(), self.out_len())
    }
}
