//! `convplay`: train, evaluate and benchmark convplay's CNNs natively, and reproduce the
//! lecture's flatten-vs-GAP shift experiment.

mod backend;
mod bench;
mod bench_gpu;
mod common;
mod images;
mod run;
mod shift_map;
mod train;
mod zoo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use convplay_compute::data::{CanvasPlacement, DatasetKind};

use common::CliResult;

#[derive(Parser)]
#[command(
    name = "convplay",
    version,
    about = "Train, evaluate and benchmark CNNs: the flatten-vs-GAP shift experiment and more"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Sgd,
}

/// Where the data is and how much of it to use.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// mnist or fashion-mnist
    #[arg(long, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Directory holding mnist/ and fashion-mnist/ IDX files [default: web/data found upward]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Worker threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Machine-readable JSON on stdout instead of tables
    #[arg(long)]
    pub json: bool,
    /// gpu (wgpu: Vulkan, Metal, DX12), cpu, or auto (a hardware GPU if there is one)
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: backend::BackendArg,
}

/// What `--padding` does to every convolution wider than 1×1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PaddingArg {
    /// Leave each convolution's padding as the model defines it
    Keep,
    /// `same` padding with zeros
    Zeros,
    /// `same` padding by reflection
    Reflect,
    /// `same` padding by wrap-around
    Circular,
}

/// Toggles for the causes of shift failure, applied to any model.
#[derive(Args, Clone, Copy)]
pub struct VariantArgs {
    /// Anti-aliased downsampling (Zhang 2019): strided pools and convs become stride 1 + BlurPool
    #[arg(long)]
    pub blurpool: bool,
    /// Padding of every convolution wider than 1×1
    #[arg(long, value_enum, default_value = "keep")]
    pub padding: PaddingArg,
}

/// Real image data: an image folder or CIFAR-10 batches (instead of the digits).
#[derive(Args, Clone)]
pub struct ImageArgs {
    /// An image folder (one subfolder per class; train/ and val/ inside are used as such) or a
    /// directory of CIFAR-10 binary batches (data_batch_*.bin, test_batch.bin)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Model input CxHxW for image data [default: 3x224x224]
    #[arg(long, value_parser = common::parse_input)]
    pub input: Option<[usize; 3]>,
    /// Classes of the model's last layer [default: the data's]
    #[arg(long)]
    pub classes: Option<usize>,
    /// Resize the shorter side to N pixels before cropping [default: the input side]
    #[arg(long)]
    pub resize: Option<usize>,
    /// Random crops for training (the centre for validation)
    #[arg(long)]
    pub random_crop: bool,
    /// Random horizontal flips for training
    #[arg(long)]
    pub flip: bool,
    /// Per-channel mean r,g,b of pixels in [0, 1] (ImageNet's by default)
    #[arg(long, default_value = "0.485,0.456,0.406")]
    pub mean: String,
    /// Per-channel standard deviation r,g,b
    #[arg(long, default_value = "0.229,0.224,0.225")]
    pub std: String,
    /// Skip files that do not decode (counted and listed) instead of stopping
    #[arg(long)]
    pub skip_bad: bool,
    /// Share of an image folder held out for validation when it has no val/ folder
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f32,
}

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Epochs over the training set
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Batch size
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerArg,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// SGD momentum
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// L2 weight decay
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Seed of initialisation, shuffling, dropout and shifts
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on the first N training images only
    #[arg(long)]
    pub limit: Option<usize>,
    /// Evaluate on the first N test images only
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Canvas side: 28 (no padding) or 64 (the lecture's zero-padded canvas); any value 28..=512
    #[arg(long, default_value_t = 64)]
    pub canvas: usize,
    /// Train-time augmentation: move each digit up to N pixels from the centre
    #[arg(long, default_value_t = 0)]
    pub train_shift: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Layer table of a model: output shapes, parameters, multiply-adds
    Summary {
        /// Preset name (cnn-flatten, cnn-gap, lenet5, …, or a full-size one: alexnet, vgg11,
        /// vgg16, resnet18, resnet50, mobilenet_v2, densenet121) or a spec .json file
        model: String,
        /// Input side for the playground's presets
        #[arg(long, default_value_t = 64)]
        canvas: usize,
        /// Input shape CxHxW [default: 3x224x224 for the full-size presets, the model's own else]
        #[arg(long, value_parser = common::parse_input)]
        input: Option<[usize; 3]>,
        /// Classes of the last layer [default: 1000 for the full-size presets, the model's own else]
        #[arg(long)]
        classes: Option<usize>,
        /// Also print the training memory at this batch size, per backend (Adam)
        #[arg(long)]
        batch: Option<usize>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        variant: VariantArgs,
    },
    /// Write a model as a self-contained PyTorch nn.Module with convplay's parameter names
    Export {
        /// Write PyTorch source (the only format so far)
        #[arg(long)]
        torch: bool,
        /// A preset, a spec .json file, or a .safetensors weights file (its model)
        source: String,
        /// The Python file to write
        out: PathBuf,
        /// Input shape CxHxW for a preset [default: 3x224x224 for the full-size presets]
        #[arg(long, value_parser = common::parse_input)]
        input: Option<[usize; 3]>,
        /// Classes of a preset's last layer [default: 1000 for the full-size presets]
        #[arg(long)]
        classes: Option<usize>,
        /// Input side for the playground's presets
        #[arg(long, default_value_t = 64)]
        canvas: usize,
    },
    /// One evaluation forward on seeded random input: writes weights.safetensors (seeded weights
    /// and running statistics), input.safetensors and logits.safetensors into DIR, for checks
    /// against another framework (scripts/torch-parity.sh)
    Forward {
        /// A preset or a spec .json file
        model: String,
        /// Directory to write the three files into
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long, value_parser = common::parse_input)]
        input: Option<[usize; 3]>,
        #[arg(long)]
        classes: Option<usize>,
        #[arg(long, default_value_t = 64)]
        canvas: usize,
        #[arg(long, default_value_t = 2)]
        batch: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Train one model and save its weights
    Train {
        /// Preset name or spec .json file
        #[arg(long, default_value = "cnn-gap")]
        model: String,
        #[command(flatten)]
        train: TrainArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        images: ImageArgs,
        #[command(flatten)]
        variant: VariantArgs,
        /// Where to write the weights (.safetensors)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate a weights file on the test set
    Eval {
        #[arg(long)]
        weights: PathBuf,
        /// centered, shifted[:SEED] or at:DX,DY
        #[arg(long, default_value = "centered")]
        placement: CanvasPlacement,
        /// Evaluate on the first N test images only
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The lecture's experiment: cnn-flatten vs cnn-gap on centred and shifted digits
    ShiftExperiment {
        /// A subset that finishes in under 3 minutes on 2 cores
        #[arg(long)]
        quick: bool,
        /// Epochs for both models [default: 8, or 2 with --quick]
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Seed of the shifted test set's offsets
        #[arg(long, default_value_t = 0)]
        shift_seed: u64,
        /// Train on the first N training images [default: all, or 8000 with --quick]
        #[arg(long)]
        limit: Option<usize>,
        /// Evaluate on the first N test images [default: all, or 2000 with --quick]
        #[arg(long)]
        test_limit: Option<usize>,
        /// Side of the zero canvas the 28×28 digits are placed on (the lecture's is 64)
        #[arg(long, default_value_t = 64)]
        canvas: usize,
        /// Save both models' weights into this directory
        #[arg(long)]
        out_dir: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        variant: VariantArgs,
    },
    /// Every architecture preset on the same data budget: params, MACs, speed, centred and shifted accuracy
    Zoo {
        /// 40×40 canvas, 12,000 images, 1 epoch, 1,000 test images: under 10 minutes on 2 cores
        #[arg(long)]
        quick: bool,
        /// Comma-separated presets or spec files [default: the whole zoo]
        #[arg(long)]
        models: Option<String>,
        /// Canvas side the digits are placed on [default: 64, or 40 with --quick]
        #[arg(long)]
        canvas: Option<usize>,
        /// Train on the first N training images [default: all, or 12000 with --quick]
        #[arg(long)]
        limit: Option<usize>,
        /// Evaluate on the first N test images [default: 5000, or 1000 with --quick]
        #[arg(long)]
        test_limit: Option<usize>,
        /// Epochs for every model [default: 2, or 1 with --quick]
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Seed of the shifted test set's offsets
        #[arg(long, default_value_t = 0)]
        shift_seed: u64,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        variant: VariantArgs,
    },
    /// Train exactly the experiment of a playground share link ("Run this on your machine")
    Run {
        /// The share link: a full URL, its fragment (#e=1.…) or the bare e=1.… parameter
        #[arg(long)]
        link: String,
        /// Save every model's weights (.safetensors) into this directory
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Directory holding mnist/ and fashion-mnist/ IDX files [default: web/data found upward]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Worker threads (0 = one per core)
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Machine-readable JSON on stdout (the experiment, every curve point, the results)
        #[arg(long)]
        json: bool,
        /// gpu (the page's WebGPU loop on wgpu), cpu (the worker's), or auto (a hardware GPU if there is one)
        #[arg(long, value_enum, default_value = "auto")]
        backend: backend::BackendArg,
    },
    /// Accuracy at each digit offset (dx, dy) of a grid: CSV, and a PNG heatmap
    ShiftMap {
        #[arg(long)]
        weights: PathBuf,
        /// Grid spacing in pixels
        #[arg(long, default_value_t = 4)]
        step: usize,
        /// Test images per cell
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Write a heatmap PNG here
        #[arg(long)]
        png: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Training and inference speed (images/s, GFLOP/s) on synthetic batches
    Bench {
        #[arg(long, default_value = "cnn-gap")]
        model: String,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 64)]
        canvas: usize,
        /// Timed training steps (after 3 warm-up steps)
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long)]
        json: bool,
        /// gpu, cpu, or auto (a hardware GPU if there is one)
        #[arg(long, value_enum, default_value = "auto")]
        backend: backend::BackendArg,
        /// Image input CxHxW (random batches, no canvas): any model, e.g. resnet18 at 3x224x224
        #[arg(long, value_parser = common::parse_input)]
        input: Option<[usize; 3]>,
        /// Classes of the last layer with --input [default: 1000 for the full-size presets]
        #[arg(long)]
        classes: Option<usize>,
    },
}

fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Summary {
            model,
            canvas,
            input,
            classes,
            batch,
            json,
            variant,
        } => {
            let shape = common::Shape { input, classes };
            train::summary(&model, canvas, shape, batch, json, variant)
        }
        Command::Forward {
            model,
            out_dir,
            input,
            classes,
            canvas,
            batch,
            seed,
        } => train::forward(
            &model,
            &out_dir,
            canvas,
            common::Shape { input, classes },
            batch,
            seed,
        ),
        Command::Export {
            torch,
            source,
            out,
            input,
            classes,
            canvas,
        } => {
            if !torch {
                return Err("export needs a format: --torch".into());
            }
            train::export_torch(&source, &out, canvas, common::Shape { input, classes })
        }
        Command::Train {
            model,
            train,
            data,
            images,
            variant,
            out,
        } => train::train(&model, &train, &data, &images, variant, out.as_deref()),
        Command::Eval {
            weights,
            placement,
            limit,
            data,
        } => train::eval(&weights, placement, limit, &data),
        Command::ShiftExperiment {
            quick,
            epochs,
            seed,
            shift_seed,
            limit,
            test_limit,
            canvas,
            out_dir,
            data,
            variant,
        } => train::shift_experiment(
            &train::ShiftExperiment {
                quick,
                epochs,
                seed,
                shift_seed,
                limit,
                test_limit,
                canvas,
                out_dir,
            },
            &data,
            variant,
        ),
        Command::Zoo {
            quick,
            models,
            canvas,
            limit,
            test_limit,
            epochs,
            seed,
            shift_seed,
            data,
            variant,
        } => zoo::zoo(
            &zoo::ZooArgs {
                quick,
                models,
                canvas,
                limit,
                test_limit,
                epochs,
                seed,
                shift_seed,
            },
            &data,
            variant,
        ),
        Command::Run {
            link,
            out_dir,
            data_dir,
            threads,
            json,
            backend,
        } => run::run(
            &link,
            &run::RunArgs {
                data_dir: data_dir.as_deref(),
                threads,
                json,
                out_dir: out_dir.as_deref(),
                backend,
            },
        ),
        Command::ShiftMap {
            weights,
            step,
            limit,
            png,
            data,
        } => shift_map::run(&weights, step, limit, png.as_deref(), &data),
        Command::Bench {
            model,
            batch,
            canvas,
            steps,
            threads,
            json,
            backend,
            input,
            classes,
        } => bench::run(
            &model,
            batch,
            canvas,
            common::Shape { input, classes },
            steps,
            threads,
            json,
            backend,
        ),
    }
}

fn main() -> ExitCode {
    // Probing for a GPU loads the Vulkan drivers, and Mesa's print "XDG_RUNTIME_DIR is invalid
    // or not set" on stderr when there is no login session (servers, CI, containers).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: the first statement of main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    // A bug must still reach the user as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("convplay: internal error: {info}");
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convplay: error: {e}");
            ExitCode::FAILURE
        }
    }
}
