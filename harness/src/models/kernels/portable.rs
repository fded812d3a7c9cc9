//! The kernels in plain Rust: any CPU, and the reference the fast paths are tested against.

use super::{code_at, scales, Layout, QuantActs, BLOCK, GROUP};

/// The eight outputs of one row group for every activation row; `put(row, outputs)`.
pub(crate) fn group(lay: &Layout, w: &[u8], acts: &QuantActs, put: &mut dyn FnMut(usize, &[f32; GROUP])) {
    let cols = acts.blocks * BLOCK;
    for row in 0..acts.rows {
        let mut out = [0f32; GROUP];
        for b in 0..lay.blocks {
            let blk = &w[b * lay.group_block..][..lay.group_block];
            let a = &acts.codes[row * cols + b * BLOCK..][..BLOCK];
            let (da, sa) = (acts.d[row * acts.blocks + b], acts.s[row * acts.blocks + b]);
            for (lane, o) in out.iter_mut().enumerate() {
                let (d, min) = scales(lay, blk, lane);
                let dot: f32 = (0..BLOCK).map(|k| code_at(lay, blk, lane, k) * f32::from(a[k])).sum();
                *o += d * da * dot + (min - lay.offset * d) * sa;
            }
        }
        put(row, &out);
    }
}
