//! The page's entry point: mounts the app, nothing else.

use convplay_app::app::App;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
