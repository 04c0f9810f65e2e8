//! `shift-map`: accuracy at every (dx, dy) of a grid, as CSV and as a PNG heatmap.

use std::path::Path;

use convplay_compute::metrics::ShiftMap;
use convplay_compute::weights;

use crate::DataArgs;
use crate::backend::{Backend, shift_map};
use crate::common::{CliResult, bar, data_dir, err, load, print_json, set_threads};

pub fn run(
    path: &Path,
    step: usize,
    limit: usize,
    png: Option<&Path>,
    d: &DataArgs,
) -> CliResult<()> {
    set_threads(d.threads)?;
    if step == 0 {
        return Err("--step must be at least 1".into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut model = weights::load(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let test = load(
        &data_dir(d.data_dir.as_deref())?,
        d.dataset,
        false,
        Some(limit),
    )?;
    let backend = Backend::choose(d.backend)?;
    let pb = bar(0, "shift-map", d.json);
    let map = shift_map(&backend, &mut model, &test, step, 256, |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    if let Some(png) = png {
        write_png(&map, png)?;
    }
    if d.json {
        print_json(
            &serde_json::json!({"model": model.spec.name, "images": test.len(), "mean": map.mean(), "map": map}),
        );
    } else {
        print!("{}", map.to_csv());
        eprintln!(
            "{}: mean accuracy over the grid {:.2}% ({} images per cell)",
            model.spec.name,
            100.0 * map.mean(),
            test.len()
        );
    }
    Ok(())
}

/// Viridis, sampled at 0, ¼, ½, ¾, 1.
const VIRIDIS: [[f64; 3]; 5] = [
    [68.0, 1.0, 84.0],
    [59.0, 82.0, 139.0],
    [33.0, 145.0, 140.0],
    [94.0, 201.0, 98.0],
    [253.0, 231.0, 37.0],
];

fn colour(v: f64) -> [u8; 3] {
    let t = v.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let mut c = [0u8; 3];
    for k in 0..3 {
        c[k] = (VIRIDIS[i][k] + f * (VIRIDIS[i + 1][k] - VIRIDIS[i][k])).round() as u8;
    }
    c
}

/// One square per grid cell; x = dx, y = dy; dark = 0%, yellow = 100%.
fn write_png(map: &ShiftMap, path: &Path) -> CliResult<()> {
    let cells = map.offsets.len();
    let cell = (512 / cells.max(1)).max(4);
    let side = cells * cell;
    let mut pixels = vec![0u8; side * side * 3];
    for y in 0..side {
        for x in 0..side {
            let v = map.accuracy[(y / cell) * cells + x / cell];
            pixels[(y * side + x) * 3..][..3].copy_from_slice(&colour(v));
        }
    }
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), side as u32, side as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(&pixels).map_err(err)?;
    w.finish().map_err(err)
}
