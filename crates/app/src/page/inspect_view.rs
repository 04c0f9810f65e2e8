//! Inside the models, for the current drawing: each conv layer's feature maps, the class
//! activation map of a GAP model over the digit, and the first layer's filters.

use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, ImageData};

use crate::page::charts::model_colour;
use crate::page::ctx::Ctx;
use crate::page::drawing::{Drawing, SIDE};
use crate::protocol::{Cam, Filters, Inspection};

/// A canvas showing `rgba` (`side × side`), scaled up by CSS.
#[component]
fn Pixels(side: usize, rgba: Vec<u8>, #[prop(into)] label: String) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let Some(c) = canvas.get() else { return };
        let Ok(Some(ctx)) = c.get_context("2d") else {
            return;
        };
        let ctx: CanvasRenderingContext2d = ctx.unchecked_into();
        if let Ok(data) =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), side as u32, side as u32)
        {
            let _ = ctx.put_image_data(&data, 0.0, 0.0);
        }
    });
    view! { <canvas node_ref=canvas width=side height=side role="img" aria-label=label></canvas> }
}

fn grey(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|&v| [v, v, v, 255]).collect()
}

/// Filters on a diverging scale: blue negative, red positive.
fn diverging(weights: &[f32]) -> Vec<u8> {
    weights
        .iter()
        .flat_map(|&w| {
            let v = (w.abs().min(1.0) * 255.0) as u8;
            if w >= 0.0 {
                [255, 255 - v, 255 - v, 255]
            } else {
                [255 - v, 255 - v, 255, 255]
            }
        })
        .collect()
}

/// The drawing in grey with the CAM (bilinearly upsampled to 64×64) laid over it in red.
pub fn cam_overlay(drawing: &Drawing, cam: &Cam) -> Vec<u8> {
    let s = cam.side.max(1);
    let at = |x: usize, y: usize| cam.map[y.min(s - 1) * s + x.min(s - 1)];
    let mut out = Vec::with_capacity(SIDE * SIDE * 4);
    for y in 0..SIDE {
        let fy = ((y as f32 + 0.5) * s as f32 / SIDE as f32 - 0.5).max(0.0);
        for x in 0..SIDE {
            let fx = ((x as f32 + 0.5) * s as f32 / SIDE as f32 - 0.5).max(0.0);
            let (x0, y0, tx, ty) = (fx as usize, fy as usize, fx.fract(), fy.fract());
            let heat = (at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx) * (1.0 - ty)
                + (at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx) * ty;
            let ink = drawing.pixels[y * SIDE + x] * 0.6;
            let g = ink * 255.0;
            let r = g + (255.0 - g) * heat;
            let b = g * (1.0 - heat);
            out.extend([r as u8, (g * (1.0 - heat * 0.5)) as u8, b as u8, 255]);
        }
    }
    out
}

#[component]
pub fn Inspect() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let inspections = Memo::new(move |_| ctx.play.with(|p| p.inspection.clone()));
    view! {
        <div class="controls">
            <button id="refresh-inspect" type="button" on:click=move |_| ctx.inspect()>
                "Refresh for the current drawing"
            </button>
        </div>
        {move || {
            let all = inspections.get();
            if all.is_empty() {
                return view! { <p class="pending">"Draw a digit, or drop in a random test digit, to look inside."</p> }.into_any();
            }
            view! { <div class="inspections">{all.into_iter().map(|i| view! { <ModelInside inspection=i /> }).collect_view()}</div> }.into_any()
        }}
    }
}

#[component]
fn ModelInside(inspection: Inspection) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let index = inspection.model;
    let name = ctx.exp.with_untracked(|e| {
        e.models
            .get(index)
            .map(|m| m.name.clone())
            .unwrap_or_default()
    });
    let drawing = ctx.drawing.get_untracked();
    let cam = match &inspection.cam {
        Ok(cam) => {
            let names =
                crate::page::playground::class_names(ctx.exp.with_untracked(|e| e.data.dataset));
            view! {
                <figure class="cam">
                    <Pixels side=SIDE rgba=cam_overlay(&drawing, cam) label=format!("Class activation map for class {}", names[cam.class % 10]) />
                    <figcaption>{format!("Class activation map of “{}” ({}×{} → 64×64)", names[cam.class % 10], cam.side, cam.side)}</figcaption>
                </figure>
            }
            .into_any()
        }
        Err(why) => {
            view! { <p class="no-cam">{format!("No class activation map: {why}.")}</p> }.into_any()
        }
    };
    let filters = inspection
        .filters
        .clone()
        .map(|f| view! { <FilterGrid filters=f /> });
    let layers = inspection
        .layers
        .iter()
        .map(|layer| {
            let area = layer.side * layer.side;
            let shown = layer.maps.len() / area.max(1);
            let maps = (0..shown)
                .map(|k| {
                    let rgba = grey(&layer.maps[k * area..(k + 1) * area]);
                    view! { <Pixels side=layer.side rgba label=format!("{} channel {}", layer.layer, k + 1) /> }
                })
                .collect_view();
            view! {
                <figure class="feature-maps">
                    <figcaption>{format!("{}: {} of {} channels, {}×{}", layer.layer, shown, layer.channels, layer.side, layer.side)}</figcaption>
                    <div class="map-grid">{maps}</div>
                </figure>
            }
        })
        .collect_view();
    view! {
        <section class="inside" data-model=index aria-label=format!("Inside model {}", index + 1)>
            <h3>
                <span class="swatch" style=format!("background:{}", model_colour(index))></span>
                <code>{name}</code>
            </h3>
            {cam}
            {filters}
            {layers}
        </section>
    }
}

#[component]
fn FilterGrid(filters: Filters) -> impl IntoView {
    let area = filters.kernel * filters.kernel;
    let count = filters.weights.len() / area.max(1);
    let cells = (0..count)
        .map(|k| {
            let rgba = diverging(&filters.weights[k * area..(k + 1) * area]);
            view! { <Pixels side=filters.kernel rgba label=format!("filter {}", k + 1) /> }
        })
        .collect_view();
    view! {
        <figure class="filters">
            <figcaption>{format!("{} filters ({}×{}, red positive, blue negative)", filters.layer, filters.kernel, filters.kernel)}</figcaption>
            <div class="filter-grid">{cells}</div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn cam_overlay_is_red_where_the_map_is_hot() {
        let cam = Cam {
            class: 3,
            side: 2,
            map: vec![1.0, 0.0, 0.0, 0.0],
        };
        let px = cam_overlay(&Drawing::default(), &cam);
        assert_eq!(px.len(), SIDE * SIDE * 4);
        assert_eq!(px[..4], [255, 0, 0, 255]);
        let last = (SIDE * SIDE - 1) * 4;
        assert_eq!(px[last..last + 4], [0, 0, 0, 255]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[test]
    fn filters_are_red_positive_blue_negative() {
        assert_eq!(
            diverging(&[1.0, -1.0, 0.0]),
            [255, 0, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255]
        );
    }
}
