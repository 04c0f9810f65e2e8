//! The share link: the page's address with the experiment in its fragment. Reading the fragment
//! the page was opened with, and keeping the address bar in step with the experiment.

use leptos::prelude::*;

use crate::experiment::Experiment;

/// What the page starts from: the link's experiment, or the defaults and why the link failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    pub experiment: Experiment,
    pub error: Option<String>,
}

/// The page's sections, which a fragment may name instead of holding an experiment.
pub const SECTIONS: [&str; 7] = [
    "experiment",
    "training",
    "results",
    "heatmaps",
    "playground",
    "inspect",
    "editor",
];

/// The experiment in `fragment` (the address's part after `#`, with or without the `#`): the
/// defaults when it is empty or names a section, else the decoded experiment or the defaults
/// with what was wrong.
pub fn open(fragment: &str) -> Opened {
    let fragment = fragment.trim_start_matches('#');
    if fragment.is_empty() || SECTIONS.contains(&fragment) {
        return Opened {
            experiment: Experiment::default(),
            error: None,
        };
    }
    match Experiment::from_link(fragment) {
        Ok(experiment) => Opened {
            experiment,
            error: None,
        },
        Err(e) => Opened {
            experiment: Experiment::default(),
            error: Some(format!(
                "This link could not be opened: {e}. The default experiment is shown instead."
            )),
        },
    }
}

/// The page's address without its fragment, e.g. `http://127.0.0.1:8080/`.
pub fn page_address() -> String {
    let location = window().location();
    let href = location.href().unwrap_or_default();
    match href.split_once('#') {
        Some((base, _)) => base.to_string(),
        None => href,
    }
}

/// The fragment the page was opened with (`#e=…`, or empty).
pub fn current_fragment() -> String {
    window().location().hash().unwrap_or_default()
}

/// The full share address of `exp`.
pub fn share_url(base: &str, exp: &Experiment) -> String {
    format!("{base}#{}", exp.to_fragment())
}

/// Puts `url` in the address bar without a reload or a history entry.
pub fn replace_address(url: &str) {
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn empty_fragment_opens_the_defaults_without_an_error() {
        for fragment in ["", "#", "#results"] {
            let opened = open(fragment);
            assert_eq!(opened.experiment, Experiment::default());
            assert_eq!(opened.error, None);
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn a_share_link_round_trips_through_open() {
        let mut exp = Experiment::default();
        exp.train.seed = 1234;
        exp.train.epochs = 3;
        let url = share_url("http://127.0.0.1:8080/", &exp);
        let fragment = url.split_once('#').unwrap().1;
        let opened = open(&format!("#{fragment}"));
        assert_eq!(opened.error, None);
        assert_eq!(opened.experiment, exp);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn garbage_fragment_opens_the_defaults_and_says_what_was_wrong() {
        for garbage in ["#garbage", "#e=1.!!!", "#e=999.abc", "#e=1.", "#%%%%"] {
            let opened = open(garbage);
            assert_eq!(opened.experiment, Experiment::default());
            let error = opened.error.expect("a bad link is reported");
            assert!(error.contains("could not be opened"), "{error}");
            assert!(error.contains("default"), "{error}");
        }
    }
}
