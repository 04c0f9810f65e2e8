//! The share link: `#e=1.<payload>`, the experiment as JSON (a preset as its name), deflated,
//! in unpadded base64url; reading one checks everything and says what was wrong.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::*;
use crate::model::{ModelSpec, PRESETS, preset_for};
use crate::train::TrainSpec;

/// The share-link format this code writes (and the only one it reads).
pub const LINK_VERSION: u32 = 1;
/// Longest link accepted, in characters.
pub const MAX_LINK_CHARS: usize = 64 * 1024;
/// Largest inflated experiment JSON accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Why a link could not be read. The message is meant for the user.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum LinkError {
    #[error("the link has no experiment in it (expected a fragment like #e={LINK_VERSION}.…)")]
    Missing,
    #[error("the link is {0} characters long; the longest accepted is {MAX_LINK_CHARS}")]
    TooLong(usize),
    #[error("the link's version {0:?} is not a number (expected #e={LINK_VERSION}.…)")]
    BadVersion(String),
    #[error("the link is version {0}, but this convplay reads version {LINK_VERSION} links")]
    UnsupportedVersion(u32),
    #[error("the link is damaged: {0}")]
    Damaged(String),
    #[error("the link's experiment is not valid: {0}")]
    Invalid(String),
}

/// A model in a link: a preset's name when the spec is exactly that preset, else the spec.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum WireModel {
    Preset(String),
    Spec(ModelSpec),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireExperiment {
    pub(crate) models: Vec<WireModel>,
    pub(crate) data: DataSpec,
    pub(crate) train: TrainSpec,
}

impl Experiment {
    /// The link fragment, without the `#`: `e=1.<base64url(deflate(json))>`.
    pub fn to_fragment(&self) -> String {
        let c = self.train.canvas;
        let models = self
            .models
            .iter()
            .map(|m| match preset_for(&m.name, c) {
                Ok(p) if &p == m => WireModel::Preset(m.name.clone()),
                _ => WireModel::Spec(m.clone()),
            })
            .collect();
        let wire = WireExperiment {
            models,
            data: self.data.clone(),
            train: self.train.clone(),
        };
        let json = serde_json::to_vec(&wire).expect("an experiment always serializes");
        let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
        format!("e={LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(packed))
    }

    /// Reads an experiment from a full URL, a fragment (`#e=…`) or the bare `e=…` parameter.
    /// Never panics; anything wrong is a [`LinkError`].
    pub fn from_link(link: &str) -> std::result::Result<Experiment, LinkError> {
        let link = link.trim();
        if link.len() > MAX_LINK_CHARS {
            return Err(LinkError::TooLong(link.len()));
        }
        let fragment = match link.find('#') {
            Some(i) => &link[i + 1..],
            None => link,
        };
        let value = fragment
            .split('&')
            .find_map(|p| p.strip_prefix("e="))
            .ok_or(LinkError::Missing)?;
        let (version, payload) = value
            .split_once('.')
            .ok_or_else(|| LinkError::Damaged("no '.' after the version".into()))?;
        let version: u32 = version
            .parse()
            .map_err(|_| LinkError::BadVersion(version.chars().take(16).collect()))?;
        if version != LINK_VERSION {
            return Err(LinkError::UnsupportedVersion(version));
        }
        let packed = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| LinkError::Damaged(format!("not base64url ({e})")))?;
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_JSON_BYTES)
            .map_err(|e| match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => LinkError::Damaged(format!(
                    "the experiment is larger than {} KiB",
                    MAX_JSON_BYTES >> 10
                )),
                _ => LinkError::Damaged("the compressed data is corrupt or cut short".into()),
            })?;
        let wire: WireExperiment = serde_json::from_slice(&json)
            .map_err(|e| LinkError::Invalid(format!("cannot read the experiment: {e}")))?;
        let c = wire.train.canvas;
        let models = wire
            .models
            .into_iter()
            .map(|m| match m {
                WireModel::Spec(s) => Ok(s),
                WireModel::Preset(name) => preset_for(&name, c).map_err(|_| {
                    LinkError::Invalid(format!(
                        "unknown preset {:?} (known: {})",
                        name.chars().take(40).collect::<String>(),
                        PRESETS.join(", ")
                    ))
                }),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let exp = Experiment {
            models,
            data: wire.data,
            train: wire.train,
        };
        exp.validate()
            .map_err(|e| LinkError::Invalid(e.to_string()))?;
        Ok(exp)
    }

    /// The shell command that trains this experiment natively.
    pub fn cli_command(&self) -> String {
        format!("convplay run --link '#{}'", self.to_fragment())
    }
}
