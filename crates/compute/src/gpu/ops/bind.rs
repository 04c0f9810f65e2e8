//! Binding buffers by name: a launcher names each buffer as the kernel's WGSL does, and
//! [`launch`] puts it at the binding the WGSL declares for that name, after checking its size.
//! The bindings are read from each kernel's own source ([`Kernel::own_source`]), so the order
//! lives in one place, the shader.

use std::sync::OnceLock;

use super::*;

/// A buffer for one of a kernel's storage bindings: the name the kernel's WGSL declares it
/// under, the buffer, and how many elements the dispatch reaches in it (checked against its
/// length).
pub(super) type Bind<'a> = (&'static str, &'a GpuBuffer, usize);

/// The dispatch of `kernel` over `groups` workgroups with the buffers `binds`, given in any
/// order: each goes to the binding the kernel declares for its name, and `params` to its
/// uniform. A name the kernel does not declare, a binding left without a buffer, or a buffer
/// shorter than its elements is an error, and nothing is dispatched.
pub(super) fn launch<T: Pod>(
    ctx: &GpuContext,
    kernel: Kernel,
    binds: &[Bind<'_>],
    params: &T,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let declared = bindings(kernel)?;
    if let Some((name, ..)) = binds.iter().find(|b| !declared.contains(&b.0)) {
        return Err(Error::Gpu(format!(
            "{kernel:?} has no binding `{name}` (it binds {declared:?})"
        )));
    }
    let mut ordered = Vec::with_capacity(declared.len());
    for &name in declared {
        let Some(&(_, buf, len)) = binds.iter().find(|b| b.0 == name) else {
            return Err(Error::Gpu(format!(
                "{kernel:?}: no buffer for its binding `{name}`"
            )));
        };
        need(kernel.name(), name, buf, len)?;
        ordered.push(buf);
    }
    make(ctx, kernel, &ordered, params, groups)
}

/// The names of `kernel`'s storage bindings, in binding order (its uniform comes after them).
pub(super) fn bindings(kernel: Kernel) -> Result<&'static [&'static str]> {
    static ALL: OnceLock<Vec<std::result::Result<Vec<&'static str>, String>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Kernel::ALL
            .iter()
            .map(|k| parse_bindings(k.own_source()))
            .collect()
    });
    all[kernel.index()]
        .as_deref()
        .map_err(|e| Error::Gpu(format!("{kernel:?}: {e}")))
}

/// The storage bindings a WGSL module declares (`@group(0) @binding(N) var<storage, …> name:`),
/// by binding number, which must run 0, 1, … with one uniform last.
fn parse_bindings(src: &'static str) -> std::result::Result<Vec<&'static str>, String> {
    let mut found = Vec::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("@group(0) @binding(") else {
            continue;
        };
        let parsed = rest.split_once(')').and_then(|(n, rest)| {
            let (space, rest) = rest.trim_start().strip_prefix("var<")?.split_once('>')?;
            let name = rest.split_once(':')?.0.trim();
            Some((n.parse::<usize>().ok()?, name, space.starts_with("uniform")))
        });
        found.push(parsed.ok_or_else(|| format!("unreadable binding `{}`", line.trim()))?);
    }
    found.sort_by_key(|b| b.0);
    if found.iter().enumerate().any(|(i, b)| b.0 != i) {
        return Err(format!("bindings not numbered 0, 1, …: {found:?}"));
    }
    match found.split_last() {
        Some((last, storage)) if last.2 && storage.iter().all(|b| !b.2) => {
            Ok(storage.iter().map(|b| b.1).collect())
        }
        _ => Err(format!("the uniform is not the last binding: {found:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::gpu_test;

    gpu_test!(
        launch_orders_by_name_and_refuses_wrong_bindings,
        launch_refusals
    );

    async fn launch_refusals(ctx: &GpuContext) {
        let [a, b] = [0, 1].map(|_| GpuBuffer::zeros(ctx, "t", 8));
        let p = LenParams {
            len: 8,
            ..Default::default()
        };
        let go = |binds: &[Bind<'_>]| launch(ctx, Kernel::ReluForward, binds, &p, [1, 1, 1]);
        // Any order of the declared names.
        assert!(go(&[("y", &a, 8), ("x", &b, 8)]).is_ok());
        assert!(go(&[("x", &b, 8), ("y", &a, 8)]).is_ok());
        for (binds, says) in [
            (&[("x", &b, 8)][..], "no buffer for its binding `y`"),
            (
                &[("y", &a, 8), ("x", &b, 8), ("z", &b, 8)][..],
                "no binding `z`",
            ),
            (&[("y", &a, 8), ("x", &b, 9)][..], "at least 9"),
        ] {
            let e = go(binds).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn every_kernel_declares_its_bindings_once_and_its_variants_agree() {
        for k in Kernel::ALL {
            let names = bindings(k).unwrap();
            assert!(!names.is_empty(), "{k:?}");
            for (i, a) in names.iter().enumerate() {
                assert!(!names[..i].contains(a), "{k:?} binds `{a}` twice");
            }
            // The register-blocked whole kernels bind what the generic ones do.
            for gemm in [Gemm::Tiled, Gemm::Registers] {
                let src = k.source_for(gemm).leak();
                assert_eq!(parse_bindings(src).unwrap(), names, "{k:?} on {gemm:?}");
            }
        }
    }

    #[test]
    fn bindings_are_read_in_binding_order() {
        let src = "@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\
                   @group(0) @binding(2) var<uniform> P: Params;\n\
                   @group(0) @binding(0) var<storage, read> x: array<f32>;\n";
        assert_eq!(parse_bindings(src).unwrap(), ["x", "out"]);
        let gap = "@group(0) @binding(0) var<storage, read> x: array<f32>;\n\
                   @group(0) @binding(2) var<uniform> P: Params;\n";
        assert!(parse_bindings(gap).is_err());
        let no_uniform = "@group(0) @binding(0) var<storage, read> x: array<f32>;\n";
        assert!(parse_bindings(no_uniform).is_err());
    }
}
