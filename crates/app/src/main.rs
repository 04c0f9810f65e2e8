//! The page's entry point: removes the boot line of index.html and mounts the app.

use convplay_app::page::app::App;
use leptos::prelude::window;

fn main() {
    console_error_panic_hook::set_once();
    let performance = window().performance();
    if let Some(p) = &performance {
        let _ = p.mark("convplay-mount-start");
    }
    if let Some(boot) = leptos::prelude::document().get_element_by_id("boot") {
        boot.remove();
    }
    leptos::mount::mount_to_body(App);
    // The first render's duration, for profiles and tests: performance entry "convplay-mount".
    if let Some(p) = &performance {
        let _ = p.measure_with_start_mark("convplay-mount", "convplay-mount-start");
    }
}
