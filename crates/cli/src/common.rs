//! What every command shares: finding the data, reading a model argument, progress bars, errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use convplay_compute::data::{Dataset, DatasetKind, load_split};
use convplay_compute::model::transform::{antialias, with_padding};
use convplay_compute::model::{FULL_SIZE, LayerSpec, ModelSpec, full_size, preset_for};
use convplay_compute::ops::pad::PadMode;
use indicatif::{ProgressBar, ProgressStyle};

/// Errors are one line for the user.
pub type CliResult<T> = Result<T, String>;

pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// `--data-dir`, else `$CONVPLAY_DATA`, else the first `web/data` found walking up from the
/// current directory or from the executable's directory.
pub fn data_dir(flag: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("CONVPLAY_DATA") {
        return Ok(PathBuf::from(p));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join("web/data");
            if candidate.is_dir() {
                return Ok(candidate);
            }
        }
    }
    Err("no web/data directory found: run `bash scripts/fetch-data.sh` in the convplay checkout, or pass --data-dir".into())
}

pub fn load(
    dir: &Path,
    kind: DatasetKind,
    train: bool,
    limit: Option<usize>,
) -> CliResult<Dataset> {
    let d = load_split(dir, kind, train).map_err(err)?;
    Ok(match limit {
        Some(n) => d.subset(n),
        None => d,
    })
}

/// `--input CxHxW`: three positive sizes.
pub fn parse_input(s: &str) -> Result<[usize; 3], String> {
    let dims: Vec<usize> = s
        .split(['x', 'X', '×'])
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?} is not CxHxW (e.g. 3x224x224)"))?;
    match dims[..] {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => Err(format!(
            "{s:?} is not CxHxW with three positive sizes (e.g. 3x224x224)"
        )),
    }
}

/// `--input` and `--classes`: a model's input shape and class count, where given.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    pub input: Option<[usize; 3]>,
    pub classes: Option<usize>,
}

/// [`model_spec`] with `--input` and `--classes`: a full-size preset is built for them (3×224×224
/// and 1000 classes unless given); any other model gets the input shape, and the class count on
/// its last dense layer.
pub fn shaped_model_spec(arg: &str, canvas: usize, shape: Shape) -> CliResult<ModelSpec> {
    if FULL_SIZE.contains(&arg) && !Path::new(arg).is_file() {
        let input = shape.input.unwrap_or([3, 224, 224]);
        return full_size(arg, input, shape.classes.unwrap_or(1000)).map_err(err);
    }
    let mut spec = model_spec(arg, canvas)?;
    if let Some(input) = shape.input {
        spec.input = input;
    }
    if let Some(classes) = shape.classes {
        match spec.layers.last_mut() {
            Some(LayerSpec::Dense { units, .. }) => *units = classes,
            _ => return Err(format!("--classes: {arg} does not end in a dense layer")),
        }
    }
    Ok(spec)
}

/// A preset name, a path to a spec JSON file, or a weights file (its model); presets are built
/// for a `canvas`-sided input.
pub fn model_spec(arg: &str, canvas: usize) -> CliResult<ModelSpec> {
    if FULL_SIZE.contains(&arg) && !Path::new(arg).is_file() {
        return Err(format!(
            "{arg} is a full-size preset (3-channel images, torchvision's layers): it trains on image data, not on the digit canvas; `convplay summary {arg} --input 3x224x224` shows it"
        ));
    }
    let path = Path::new(arg);
    if arg.ends_with(".safetensors") {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {arg}: {e}"))?;
        return convplay_compute::weights::read_spec(&bytes).map_err(|e| format!("{arg}: {e}"));
    }
    if arg.ends_with(".json") || path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {arg}: {e}"))?;
        return ModelSpec::from_json(&text).map_err(|e| format!("{arg}: {e}"));
    }
    preset_for(arg, canvas).map_err(err)
}

/// `spec` with the toggles of `v` applied (padding first, then BlurPool).
pub fn apply_variant(spec: ModelSpec, v: crate::VariantArgs) -> ModelSpec {
    use crate::PaddingArg;
    let spec = match v.padding {
        PaddingArg::Keep => spec,
        PaddingArg::Zeros => with_padding(&spec, PadMode::Zeros),
        PaddingArg::Reflect => with_padding(&spec, PadMode::Reflect),
        PaddingArg::Circular => with_padding(&spec, PadMode::Circular),
    };
    if v.blurpool { antialias(&spec) } else { spec }
}

/// A bar on stderr (hidden when stderr is not a terminal or `quiet`).
pub fn bar(len: u64, prefix: &str, quiet: bool) -> ProgressBar {
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_string());
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// Sets rayon's global thread count (0 = one per core).
pub fn set_threads(threads: usize) -> CliResult<()> {
    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(err)?;
    }
    Ok(())
}

pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}
