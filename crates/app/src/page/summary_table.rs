//! A model's summary as a table: one row per layer (name, type, output shape, parameters,
//! multiply-adds), then the totals.

use convplay_compute::model::Summary;
use convplay_compute::model::summary::thousands;
use leptos::prelude::*;

/// Renders `summary` as it is; it computes nothing.
#[component]
pub fn SummaryTable(summary: Summary) -> impl IntoView {
    let rows = summary
        .rows
        .into_iter()
        .map(|row| {
            view! {
                <tr>
                    <th scope="row">{row.name}</th>
                    <td class="kind">{breakable(&row.kind)}</td>
                    <td class="num">{shape(&row.output_shape)}</td>
                    <td class="num">{thousands(row.params as u64)}</td>
                    <td class="num">{thousands(row.macs)}</td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <div class="table-scroll">
            <table class="summary">
                <thead>
                    <tr>
                        <th scope="col">"Layer"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col" class="num">"Output shape"</th>
                        <th scope="col" class="num">"Params"</th>
                        <th scope="col" class="num">"Multiply-adds"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
                <tfoot>
                    <tr class="total">
                        <th scope="row" colspan="3">"Total"</th>
                        <td class="num">{thousands(summary.total_params as u64)}</td>
                        <td class="num">{thousands(summary.total_macs)}</td>
                    </tr>
                    <tr class="trainable">
                        <th scope="row" colspan="3">"Trainable"</th>
                        <td class="num">{thousands(summary.trainable_params as u64)}</td>
                        <td></td>
                    </tr>
                </tfoot>
            </table>
        </div>
    }
}

/// A layer type with `<wbr>` between its words, so a narrow table can wrap
/// `GlobalAveragePooling2D` at `Global|Average|Pooling2D` and nowhere else.
fn breakable(kind: &str) -> impl IntoView + use<> {
    camel_words(kind)
        .into_iter()
        .enumerate()
        .map(|(i, word)| {
            let word = word.to_string();
            view! { {(i > 0).then(|| view! { <wbr /> })} {word} }
        })
        .collect::<Vec<_>>()
}

/// `MaxPooling2D` → `["Max", "Pooling2D"]`: a new word starts at a capital after a lowercase letter.
fn camel_words(name: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut previous_lowercase = false;
    for (i, c) in name.char_indices() {
        if c.is_uppercase() && previous_lowercase {
            words.push(&name[start..i]);
            start = i;
        }
        previous_lowercase = c.is_lowercase();
    }
    words.push(&name[start..]);
    words
}

/// `[32, 64, 64]` → `32×64×64`: channels, height, width of one image (`[10]` after a dense layer).
pub fn shape(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

#[cfg(test)]
mod tests {
    use super::{camel_words, shape};

    #[test]
    fn shape_joins_dimensions_with_times() {
        assert_eq!(shape(&[32, 64, 64]), "32×64×64");
        assert_eq!(shape(&[10]), "10");
        assert_eq!(shape(&[]), "");
    }

    #[test]
    fn camel_words_split_where_a_type_name_may_wrap() {
        assert_eq!(
            camel_words("GlobalAveragePooling2D"),
            ["Global", "Average", "Pooling2D"]
        );
        assert_eq!(camel_words("MaxPooling2D"), ["Max", "Pooling2D"]);
        assert_eq!(camel_words("Conv2D"), ["Conv2D"]);
        assert_eq!(camel_words("Dense"), ["Dense"]);
        assert_eq!(camel_words(""), [""]);
    }
}
