//! Accuracy against held-out text and against the model's own f32 reference.

use anyhow::{ensure, Result};
use candle_core::{Device, Tensor, D};

use crate::engines::LoadedModel;

/// Log-probabilities `(positions, vocab)` of a teacher-forced pass over
/// `tokens[..n-1]` (row `i` predicts `tokens[i+1]`).
pub fn log_probs(model: &dyn LoadedModel, tokens: &[u32]) -> Result<Tensor> {
    ensure!(tokens.len() >= 2, "scoring needs at least two tokens, got {}", tokens.len());
    let n = tokens.len() - 1;
    let lp = model.log_probs(&tokens[..n])?;
    ensure!(lp.dims2()?.0 == n, "engine returned {:?} log-probabilities for {n} positions", lp.dims());
    Ok(lp)
}

/// exp(mean negative log-likelihood of `tokens[1..]`).
pub fn perplexity(lp: &Tensor, tokens: &[u32]) -> Result<f64> {
    let targets = Tensor::from_slice(&tokens[1..], (tokens.len() - 1, 1), &Device::Cpu)?;
    let nll = lp.gather(&targets, 1)?.neg()?.mean_all()?.to_scalar::<f32>()?;
    Ok((nll as f64).exp())
}

/// Share of positions where both pick the same greedy token.
pub fn agreement(reference: &Tensor, other: &Tensor) -> Result<f64> {
    let a = reference.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let b = other.argmax(D::Minus1)?.to_vec1::<u32>()?;
    Ok(a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
}

/// Mean over positions of KL(reference || other), in nats.
pub fn kl_mean(reference: &Tensor, other: &Tensor) -> Result<f64> {
    let kl = (reference.exp()? * (reference - other)?)?.sum(D::Minus1)?.mean_all()?.to_scalar::<f32>()?;
    Ok(kl.max(0.0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_and_agreement_of_known_distributions() {
        let p = Tensor::new(&[[0.5f32, 0.5], [0.9, 0.1]], &Device::Cpu).unwrap().log().unwrap();
        let q = Tensor::new(&[[0.5f32, 0.5], [0.2, 0.8]], &Device::Cpu).unwrap().log().unwrap();
        let expected = (0.9 * (0.9f64 / 0.2).ln() + 0.1 * (0.1f64 / 0.8).ln()) / 2.0;
        assert!((kl_mean(&p, &q).unwrap() - expected).abs() < 1e-5);
        assert_eq!(kl_mean(&p, &p).unwrap(), 0.0);
        assert_eq!(agreement(&p, &q).unwrap(), 0.5);
    }

    #[test]
    fn perplexity_of_uniform_is_vocab() {
        let lp = Tensor::full((4f32).recip().ln(), (3, 4), &Device::Cpu).unwrap();
        let ppl = perplexity(&lp, &[0, 1, 2, 3]).unwrap();
        assert!((ppl - 4.0).abs() < 1e-4);
    }
}
