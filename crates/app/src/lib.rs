//! The convplay web app. The page (bin `convplay-app`) mounts [`app::App`]; the dedicated Web
//! Worker (bin `convplay-worker`) answers with [`respond::respond`]. Components live here, in the
//! library, so browser tests can mount them one at a time.

pub mod app;
pub mod protocol;
pub mod respond;
pub mod state;
pub mod summary_table;
pub mod worker;
