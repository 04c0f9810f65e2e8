//! Hand-written SVG charts: line charts of training curves, and the colour scales of heatmaps.

use leptos::prelude::*;

/// Colours of models 0, 1, 2, 3 (colour-blind safe: blue, orange, green, purple).
pub const MODEL_COLOURS: [&str; 4] = ["#1f77b4", "#e8710a", "#2ca02c", "#9467bd"];

pub fn model_colour(index: usize) -> &'static str {
    MODEL_COLOURS[index % MODEL_COLOURS.len()]
}

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    /// SVG `stroke-dasharray`: `None` solid, e.g. `Some("6 3")` dashed.
    pub dash: Option<&'static str>,
    /// Whether each point gets a dot (epoch-end test figures).
    pub dots: bool,
    pub points: Vec<(f32, f32)>,
}

const W: f32 = 480.0;
const H: f32 = 240.0;
const LEFT: f32 = 44.0;
const RIGHT: f32 = 10.0;
const TOP: f32 = 10.0;
const BOTTOM: f32 = 30.0;

/// `[x0, x1]` → pixels across the plot area.
fn scale(v: f32, lo: f32, hi: f32, from: f32, to: f32) -> f32 {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
    from + t.clamp(0.0, 1.0) * (to - from)
}

/// The SVG `points` attribute of a polyline through `points` on axes `x_max` × `[y_min, y_max]`.
pub fn polyline(points: &[(f32, f32)], x_max: f32, y_min: f32, y_max: f32) -> String {
    points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| {
            format!(
                "{:.1},{:.1}",
                scale(x, 0.0, x_max, LEFT, W - RIGHT),
                scale(y, y_min, y_max, H - BOTTOM, TOP)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Round tick values for an axis from `lo` to `hi`: about five of them.
pub fn ticks(lo: f32, hi: f32) -> Vec<f32> {
    // Also catches NaN bounds.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f32.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-4).floor() as i64;
    (first..=last).map(|i| i as f32 * step).collect()
}

fn tick_label(v: f32) -> String {
    if v.fract().abs() < 1e-4 {
        format!("{v:.0}")
    } else if (v * 10.0).fract().abs() < 1e-3 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart with axes, ticks and a legend. `y_max` of `None` fits the data.
#[component]
pub fn LineChart(
    #[prop(into)] title: String,
    #[prop(into)] x_label: String,
    series: Signal<Vec<Series>>,
    x_max: Signal<f32>,
    #[prop(optional)] y_max: Option<f32>,
) -> impl IntoView {
    let y_hi = move || {
        y_max.unwrap_or_else(|| {
            let top = series.with(|s| {
                s.iter()
                    .flat_map(|s| s.points.iter().map(|p| p.1))
                    .filter(|v| v.is_finite())
                    .fold(0.0f32, f32::max)
            });
            if top > 0.0 { top * 1.1 } else { 1.0 }
        })
    };
    let title_id = format!("chart-{}", title.to_lowercase().replace(' ', "-"));
    let labelled = title_id.clone();
    view! {
        <figure class="chart">
            <figcaption id=title_id>{title}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-labelledby=labelled>
                <g class="axis">
                    {move || {
                        let hi = y_hi();
                        ticks(0.0, hi)
                            .into_iter()
                            .map(|t| {
                                let y = scale(t, 0.0, hi, H - BOTTOM, TOP);
                                view! {
                                    <line x1=LEFT x2=W - RIGHT y1=y y2=y class="grid" />
                                    <text x=LEFT - 4.0 y=y + 4.0 text-anchor="end">{tick_label(t)}</text>
                                }
                            })
                            .collect_view()
                    }}
                    {move || {
                        let xm = x_max.get().max(1e-3);
                        ticks(0.0, xm)
                            .into_iter()
                            .map(|t| {
                                let x = scale(t, 0.0, xm, LEFT, W - RIGHT);
                                view! {
                                    <text x=x y=H - BOTTOM + 14.0 text-anchor="middle">{tick_label(t)}</text>
                                }
                            })
                            .collect_view()
                    }}
                    <line x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM class="frame" />
                    <line x1=LEFT x2=LEFT y1=TOP y2=H - BOTTOM class="frame" />
                    <text x=(LEFT + W - RIGHT) / 2.0 y=H - 2.0 text-anchor="middle">{x_label}</text>
                </g>
                {move || {
                    let (xm, hi) = (x_max.get().max(1e-3), y_hi());
                    series
                        .get()
                        .into_iter()
                        .map(|s| {
                            let dots = s.dots.then(|| {
                                s.points
                                    .iter()
                                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                                    .map(|&(x, y)| {
                                        view! {
                                            <circle
                                                cx=scale(x, 0.0, xm, LEFT, W - RIGHT)
                                                cy=scale(y, 0.0, hi, H - BOTTOM, TOP)
                                                r="3"
                                                fill=s.colour
                                            />
                                        }
                                    })
                                    .collect_view()
                            });
                            view! {
                                <polyline
                                    points=polyline(&s.points, xm, 0.0, hi)
                                    fill="none"
                                    stroke=s.colour
                                    stroke-width="2"
                                    stroke-dasharray=s.dash
                                />
                                {dots}
                            }
                        })
                        .collect_view()
                }}
            </svg>
            <ul class="legend">
                {move || {
                    series
                        .get()
                        .into_iter()
                        .map(|s| {
                            view! {
                                <li>
                                    <svg width="28" height="10" aria-hidden="true">
                                        <line x1="0" x2="28" y1="5" y2="5" stroke=s.colour stroke-width="2" stroke-dasharray=s.dash />
                                    </svg>
                                    {s.label}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </figure>
    }
}

/// Accuracy in `[0, 1]` as a colour from red (0) through yellow to green (1).
pub fn accuracy_colour(accuracy: f64) -> String {
    let a = accuracy.clamp(0.0, 1.0);
    let hue = 120.0 * a;
    format!("hsl({hue:.0} 70% 45%)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 3.0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(0.0, 0.0), [0.0]);
        let t = ticks(0.0, 2.3);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.last().unwrap() <= &2.3);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn polyline_maps_corners_to_the_plot_area_and_skips_nan() {
        let p = polyline(&[(0.0, 0.0), (f32::NAN, 1.0), (2.0, 1.0)], 2.0, 0.0, 1.0);
        assert_eq!(
            p,
            format!("{LEFT:.1},{:.1} {:.1},{TOP:.1}", H - BOTTOM, W - RIGHT)
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn accuracy_colour_runs_red_to_green() {
        assert_eq!(accuracy_colour(0.0), "hsl(0 70% 45%)");
        assert_eq!(accuracy_colour(1.0), "hsl(120 70% 45%)");
        assert_eq!(accuracy_colour(7.0), "hsl(120 70% 45%)");
    }
}
