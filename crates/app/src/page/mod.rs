//! The page: everything that runs on the browser's main thread. Training never does.
//!
//! - [`app`] composes the sections; [`ctx`] holds [`ctx::Ctx`], the context they share (the
//!   experiment, the page state, the drawing, the worker) and carries out what a worker message
//!   asks of the page.
//! - [`state`]: [`state::PageState`], what the worker has said so far, and its reducer.
//! - [`handle`]: the page's side of the worker; it owns the `web_sys::Worker`.
//! - The sections: [`settings`], [`training`], [`results`], [`heatmaps`], [`playground`],
//!   [`inspect_view`] and [`editor`], with their parts ([`charts`], [`drawing`],
//!   [`summary_table`], [`weights_io`], [`parallel`]) and the share [`link`].

pub mod app;
pub mod charts;
pub mod ctx;
pub mod drawing;
pub mod editor;
pub mod handle;
pub mod heatmaps;
pub mod inspect_view;
pub mod link;
pub mod parallel;
pub mod playground;
pub mod results;
pub mod settings;
pub mod state;
pub mod summary_table;
pub mod training;
pub mod weights_io;
