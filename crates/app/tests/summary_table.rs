//! `SummaryTable` mounted in a real browser with a hand-made summary: the DOM must show every
//! layer and the totals, formatted.

use convplay_app::page::summary_table::SummaryTable;
use convplay_compute::model::{Summary, SummaryRow};
use leptos::{mount::mount_to, prelude::*};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

fn row(name: &str, kind: &str, output_shape: &[usize], params: usize, macs: u64) -> SummaryRow {
    SummaryRow {
        name: name.into(),
        kind: kind.into(),
        output_shape: output_shape.to_vec(),
        params,
        macs,
        activations: output_shape.iter().product(),
    }
}

/// A small made-up network; the numbers only have to be distinct and need thousands separators.
fn hand_made_summary() -> Summary {
    let rows = vec![
        row("conv1", "Conv2D", &[32, 64, 64], 320, 1_179_648),
        row("gap", "GlobalAveragePooling2D", &[32], 0, 0),
        row("dense", "Dense", &[10], 330, 320),
    ];
    Summary {
        name: "hand-made".into(),
        input: [1, 64, 64],
        total_params: 650,
        trainable_params: 586,
        total_macs: 1_179_968,
        total_activations: rows.iter().map(|r| r.activations).sum(),
        rows,
    }
}

/// Mounts the table in a fresh `<section>`; it stays mounted while the returned handle lives.
fn mount_table(summary: Summary) -> (Element, impl Sized) {
    let document = document();
    let host = document.create_element("section").unwrap();
    document.body().unwrap().append_child(&host).unwrap();
    let mounted = mount_to(host.clone().unchecked_into(), move || {
        view! { <SummaryTable summary /> }
    });
    (host, mounted)
}

/// The text of each cell of each row that `selector` matches.
fn cells(host: &Element, selector: &str) -> Vec<Vec<String>> {
    let rows = host.query_selector_all(selector).unwrap();
    (0..rows.length())
        .map(|i| {
            let row: Element = rows.item(i).unwrap().unchecked_into();
            let cells = row.query_selector_all("th, td").unwrap();
            (0..cells.length())
                .map(|j| cells.item(j).unwrap().text_content().unwrap_or_default())
                .collect()
        })
        .collect()
}

#[wasm_bindgen_test]
fn summary_table_shows_one_row_per_layer() {
    let (host, _mounted) = mount_table(hand_made_summary());
    assert_eq!(
        cells(&host, "thead tr"),
        [["Layer", "Type", "Output shape", "Params", "Multiply-adds"]]
    );
    assert_eq!(
        cells(&host, "tbody tr"),
        [
            ["conv1", "Conv2D", "32×64×64", "320", "1,179,648"],
            ["gap", "GlobalAveragePooling2D", "32", "0", "0"],
            ["dense", "Dense", "10", "330", "320"],
        ]
    );
}

#[wasm_bindgen_test]
fn summary_table_lets_long_type_names_wrap_between_words() {
    let (host, _mounted) = mount_table(hand_made_summary());
    let breaks = |row: u32| {
        let selector = format!("tbody tr:nth-child({row}) td.kind wbr");
        host.query_selector_all(&selector).unwrap().length()
    };
    assert_eq!(breaks(1), 0, "Conv2D is one word");
    assert_eq!(breaks(2), 2, "Global|Average|Pooling2D");
}

#[wasm_bindgen_test]
fn summary_table_footer_shows_total_and_trainable_counts() {
    let (host, _mounted) = mount_table(hand_made_summary());
    assert_eq!(
        cells(&host, "tfoot tr"),
        [
            vec!["Total", "650", "1,179,968"],
            vec!["Trainable", "586", ""],
        ]
    );
    let total = host.query_selector("tfoot tr.total th").unwrap().unwrap();
    assert_eq!(total.get_attribute("colspan").as_deref(), Some("3"));
}

#[wasm_bindgen_test]
fn summary_table_without_layers_still_shows_totals() {
    let mut summary = hand_made_summary();
    summary.rows.clear();
    let (host, _mounted) = mount_table(summary);
    assert!(cells(&host, "tbody tr").is_empty());
    assert_eq!(cells(&host, "tfoot tr.total")[0][0], "Total");
}
