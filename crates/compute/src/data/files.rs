//! Reading the datasets' IDX files from a directory (natively; the browser fetches the same
//! files from its own origin and calls [`Dataset::from_idx`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    #[default]
    Mnist,
    FashionMnist,
}

impl DatasetKind {
    /// Sub-directory of the data directory (`web/data/<dir>`).
    pub fn dir(&self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// `(images, labels)` file names of a split.
    pub fn files(train: bool) -> (&'static str, &'static str) {
        if train {
            ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
        } else {
            ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        }
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion" => Ok(DatasetKind::FashionMnist),
            _ => Err(format!("unknown dataset {s:?}: use mnist or fashion-mnist")),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir())
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: format!(
            "{e} (run `bash scripts/fetch-data.sh` to put the datasets under web/data/)"
        ),
    })
}

/// Loads the train or test split of `kind` from `data_dir/<kind>/`.
pub fn load_split(data_dir: &Path, kind: DatasetKind, train: bool) -> Result<Dataset> {
    let dir: PathBuf = data_dir.join(kind.dir());
    let (images, labels) = DatasetKind::files(train);
    let (ip, lp) = (dir.join(images), dir.join(labels));
    let (ib, lb) = (read(&ip)?, read(&lp)?);
    Dataset::from_idx(&ib, &lb).map_err(|source| Error::Idx {
        file: format!("{} + {}", ip.display(), lp.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_error_names_the_file_and_the_fix() {
        let err =
            load_split(Path::new("/nonexistent-convplay"), DatasetKind::Mnist, true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte") && msg.contains("fetch-data.sh"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = std::env::temp_dir().join(format!("convplay-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("mnist")).unwrap();
        std::fs::write(
            dir.join("mnist/t10k-images-idx3-ubyte"),
            [0u8, 0, 8, 1, 0, 0],
        )
        .unwrap();
        std::fs::write(
            dir.join("mnist/t10k-labels-idx1-ubyte"),
            [0u8, 0, 8, 1, 0, 0, 0, 0],
        )
        .unwrap();
        let err = load_split(&dir, DatasetKind::Mnist, false).unwrap_err();
        assert!(matches!(err, Error::Idx { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
