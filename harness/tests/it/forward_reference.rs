//! The engine's forward pass on a synthetic model against a plain-loop
//! re-implementation of the Llama architecture written here, independent of
//! candle: same weights, logits must agree.

use candle_core::{Device, Tensor};
use harness::models::llama::{Decoder, Logits};
use harness::models::synthetic::{SyntheticSpec, SyntheticWeights};
use harness::models::WeightFormat;

fn spec() -> SyntheticSpec {
    SyntheticSpec {
        layers: 2,
        hidden: 32,
        heads: 4,
        kv_heads: Some(2),
        intermediate: 48,
        vocab: 300,
        max_seq: 64,
        seed: 3,
    }
}

struct Naive<'a> {
    w: &'a SyntheticWeights,
    s: SyntheticSpec,
}

impl Naive<'_> {
    fn t(&self, name: &str) -> &[f32] {
        &self.w.tensors[name].1
    }

    fn matvec(&self, name: &str, x: &[f32]) -> Vec<f32> {
        let (dims, w) = &self.w.tensors[name];
        let (out, inp) = (dims[0], dims[1]);
        assert_eq!(inp, x.len());
        (0..out).map(|o| (0..inp).map(|i| w[o * inp + i] as f64 * x[i] as f64).sum::<f64>() as f32).collect()
    }

    fn rmsnorm(x: &[f32], w: &[f32]) -> Vec<f32> {
        let ms = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64;
        let r = 1.0 / (ms + 1e-5).sqrt();
        x.iter().zip(w).map(|(v, g)| (*v as f64 * r) as f32 * g).collect()
    }

    /// Interleaved rotary embedding: pairs (2i, 2i+1) rotated by pos * 10000^(-2i/d).
    fn rope(v: &mut [f32], pos: usize) {
        let d = v.len();
        for i in 0..d / 2 {
            let f = pos as f64 * 10000f64.powf(-((2 * i) as f64) / d as f64);
            let (c, s) = (f.cos(), f.sin());
            let (a, b) = (v[2 * i] as f64, v[2 * i + 1] as f64);
            v[2 * i] = (a * c - b * s) as f32;
            v[2 * i + 1] = (a * s + b * c) as f32;
        }
    }

    /// Logits for every position of `tokens`.
    fn forward(&self, tokens: &[u32]) -> Vec<Vec<f32>> {
        let (h, nh, nkv) = (self.s.hidden, self.s.heads, self.s.kv_heads.unwrap());
        let hd = h / nh;
        let emb = self.t("token_embd.weight");
        let mut xs: Vec<Vec<f32>> =
            tokens.iter().map(|&t| emb[t as usize * h..(t as usize + 1) * h].to_vec()).collect();
        for l in 0..self.s.layers {
            let p = |n: &str| format!("blk.{l}.{n}.weight");
            let mut ks = vec![];
            let mut vs = vec![];
            let mut qs = vec![];
            for (pos, x) in xs.iter().enumerate() {
                let hn = Self::rmsnorm(x, self.t(&p("attn_norm")));
                let mut q = self.matvec(&p("attn_q"), &hn);
                let mut k = self.matvec(&p("attn_k"), &hn);
                for hh in 0..nh {
                    Self::rope(&mut q[hh * hd..(hh + 1) * hd], pos);
                }
                for kh in 0..nkv {
                    Self::rope(&mut k[kh * hd..(kh + 1) * hd], pos);
                }
                qs.push(q);
                ks.push(k);
                vs.push(self.matvec(&p("attn_v"), &hn));
            }
            for t in 0..xs.len() {
                let mut att_out = vec![0f32; h];
                for hh in 0..nh {
                    let kh = hh / (nh / nkv);
                    let q = &qs[t][hh * hd..(hh + 1) * hd];
                    let scores: Vec<f64> = (0..=t)
                        .map(|s| {
                            let k = &ks[s][kh * hd..(kh + 1) * hd];
                            q.iter().zip(k).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() / (hd as f64).sqrt()
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for (s, es) in e.iter().enumerate() {
                        for d in 0..hd {
                            att_out[hh * hd + d] += (es / z * vs[s][kh * hd + d] as f64) as f32;
                        }
                    }
                }
                let o = self.matvec(&p("attn_output"), &att_out);
                xs[t].iter_mut().zip(&o).for_each(|(x, y)| *x += y);
                let h2 = Self::rmsnorm(&xs[t], self.t(&p("ffn_norm")));
                let g = self.matvec(&p("ffn_gate"), &h2);
                let u = self.matvec(&p("ffn_up"), &h2);
                let m: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
                let d = self.matvec(&p("ffn_down"), &m);
                xs[t].iter_mut().zip(&d).for_each(|(x, y)| *x += y);
            }
        }
        xs.iter().map(|x| self.matvec("output.weight", &Self::rmsnorm(x, self.t("output_norm.weight")))).collect()
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn engine_matches_independent_reference() {
    let s = spec();
    let mut w = SyntheticWeights::generate(&s);
    let tokens = [5u32, 17, 200, 3, 99, 42, 7];
    let expected = Naive { w: &w, s: s.clone() }.forward(&tokens);
    let model = Decoder::load(&mut w, WeightFormat::F32).unwrap();
    let x = Tensor::from_slice(&tokens, (1, tokens.len()), &Device::Cpu).unwrap();

    // Whole sequence at once, no cache.
    let all = model.forward(&x, 0, None, Logits::All).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
    let scale = expected.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "logits should not be trivially small");
    for (pos, (got, want)) in all.iter().zip(&expected).enumerate() {
        let d = max_abs_diff(got, want);
        assert!(d < 1e-3 * scale.max(1.0), "position {pos}: max |diff| {d} (scale {scale})");
    }

    // Prefill four tokens, then decode the rest one at a time through the KV cache.
    let mut kv = model.new_kv();
    let pre = Tensor::from_slice(&tokens[..4], (1, 4), &Device::Cpu).unwrap();
    model.forward(&pre, 0, Some(&mut kv), Logits::Last).unwrap();
    for (pos, &t) in tokens.iter().enumerate().skip(4) {
        let step = Tensor::new(&[[t]], &Device::Cpu).unwrap();
        let got = model
            .forward(&step, pos, Some(&mut kv), Logits::Last)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let d = max_abs_diff(&got, &expected[pos]);
        assert!(d < 1e-3 * scale.max(1.0), "cached decode at {pos}: max |diff| {d}");
    }
    assert_eq!(kv.len(), tokens.len());
}

#[test]
fn batched_rows_equal_single_rows() {
    let s = spec();
    let mut w = SyntheticWeights::generate(&s);
    let model = Decoder::load(&mut w, WeightFormat::F32).unwrap();
    let a = [1u32, 2, 3, 4];
    let b = [9u32, 8, 7, 6];
    let batch = Tensor::from_slice(&[a, b].concat(), (2, 4), &Device::Cpu).unwrap();
    let both = model.forward(&batch, 0, None, Logits::Last).unwrap().to_vec2::<f32>().unwrap();
    for (i, seq) in [a, b].iter().enumerate() {
        let one = model
            .forward(&Tensor::from_slice(seq, (1, 4), &Device::Cpu).unwrap(), 0, None, Logits::Last)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(max_abs_diff(&one, &both[i]) < 1e-4);
    }
}
