// softmax_ce_forward: probs = softmax(logits) per row; the batch's mean loss and count of correct
// argmax predictions are written to metrics[2·slot] and metrics[2·slot + 1].
// Rust: gpu::ops::softmax_ce_forward; CPU reference: ops::softmax_ce::softmax_ce_forward.
// One workgroup of 256: each thread takes rows i ≡ li (mod 256), then a tree adds the rows'
// losses and hits in a fixed order. Dispatch: (1, 1, 1).
// logits, probs: [n, classes], labels: [n] (u32), metrics: [slots, 2]; P: softmax_ce_common.wgsl.

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(4) var<uniform> P: SoftmaxParams;

var<workgroup> loss_part: array<f32, 256>;
var<workgroup> hit_part: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
    var loss = 0.0;
    var hits = 0u;
    for (var r = li; r < P.n; r += 256u) {
        let row = r * P.classes;
        // First maximum wins, as metrics::argmax does.
        var max = logits[row];
        var best = 0u;
        for (var c = 1u; c < P.classes; c++) {
            if (logits[row + c] > max) {
                max = logits[row + c];
                best = c;
            }
        }
        var sum = 0.0;
        for (var c = 0u; c < P.classes; c++) {
            let e = exp(logits[row + c] - max);
            probs[row + c] = e;
            sum += e;
        }
        for (var c = 0u; c < P.classes; c++) {
            probs[row + c] = probs[row + c] / sum;
        }
        let label = labels[r];
        loss += log(sum) - (logits[row + label] - max);
        if (best == label) {
            hits += 1u;
        }
    }
    loss_part[li] = loss;
    hit_part[li] = hits;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (li < half) {
            loss_part[li] += loss_part[li + half];
            hit_part[li] += hit_part[li + half];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        metrics[2u * P.slot] = loss_part[0] / f32(max(P.n, 1u));
        metrics[2u * P.slot + 1u] = f32(hit_part[0]);
    }
}
