//! The page's state: what the worker has told it so far. A plain struct, changed only by
//! [`Playground::apply`]; the app keeps it in one signal shared through context.

use convplay_compute::model::Summary;

use crate::protocol::{BackendInfo, FromWorker};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Playground {
    backend: Option<BackendInfo>,
    /// One entry per preset the worker has answered for, in the order the answers came.
    summaries: Vec<(String, Result<Summary, String>)>,
    errors: Vec<String>,
}

impl Playground {
    /// Takes in one message from the worker.
    pub fn apply(&mut self, message: FromWorker) {
        match message {
            FromWorker::Ready(info) => self.backend = Some(info),
            FromWorker::Summary { preset, summary } => {
                match self.summaries.iter_mut().find(|(name, _)| *name == preset) {
                    Some((_, known)) => *known = summary,
                    None => self.summaries.push((preset, summary)),
                }
            }
            FromWorker::Error(error) => self.errors.push(error),
        }
    }

    /// `None` until the worker has said `Ready`.
    pub fn backend(&self) -> Option<&BackendInfo> {
        self.backend.as_ref()
    }

    /// `None` while the worker has not answered for `preset`.
    pub fn summary(&self, preset: &str) -> Option<&Result<Summary, String>> {
        self.summaries
            .iter()
            .find(|(name, _)| name == preset)
            .map(|(_, summary)| summary)
    }

    /// Failures that belong to no one preset, oldest first.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, total_params: usize) -> Summary {
        Summary {
            name: name.into(),
            input: [1, 64, 64],
            rows: Vec::new(),
            total_params,
            trainable_params: total_params,
            total_macs: 0,
            total_activations: 0,
        }
    }

    #[test]
    fn ready_sets_the_backend() {
        let mut playground = Playground::default();
        assert_eq!(playground.backend(), None);
        let info = BackendInfo {
            backend: "wasm-simd128".into(),
            isa: "simd128".into(),
        };
        playground.apply(FromWorker::Ready(info.clone()));
        assert_eq!(playground.backend(), Some(&info));
    }

    #[test]
    fn a_newer_summary_replaces_the_older_one_for_the_same_preset() {
        let mut playground = Playground::default();
        playground.apply(FromWorker::Summary {
            preset: "cnn-gap".into(),
            summary: Ok(summary("cnn-gap", 1)),
        });
        playground.apply(FromWorker::Summary {
            preset: "cnn-flatten".into(),
            summary: Err("broken".into()),
        });
        playground.apply(FromWorker::Summary {
            preset: "cnn-gap".into(),
            summary: Ok(summary("cnn-gap", 2)),
        });
        assert_eq!(
            playground.summary("cnn-gap"),
            Some(&Ok(summary("cnn-gap", 2)))
        );
        assert_eq!(
            playground.summary("cnn-flatten"),
            Some(&Err("broken".into()))
        );
        assert_eq!(playground.summary("lenet5"), None);
    }

    #[test]
    fn errors_are_kept_in_order() {
        let mut playground = Playground::default();
        playground.apply(FromWorker::Error("first".into()));
        playground.apply(FromWorker::Error("second".into()));
        assert_eq!(playground.errors(), ["first", "second"]);
    }
}
