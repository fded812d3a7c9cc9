//! `harness node`: a node server holding a layer range of a model in its own process.
//!
//! It listens on one address (loopback unless told otherwise), serves one coordinator at a
//! time, and only one that proves it holds the cluster's shared secret. Per connection it
//! calibrates, loads a stage, runs forward passes with a KV cache per sequence group (the
//! caches stay here), and reports its peak memory. A bad request gets an error reply; a
//! malformed frame, a wrong secret or a vanished coordinator ends that connection, never the
//! server (except with `--once`, which serves one coordinator and exits).

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::protocol::{self, Calibration, Header, Message, Payload, Want};
use crate::engines::candle::build_decoder;
use crate::engines::rss;
use crate::models::llama::{argmax_flat, Decoder, FlatKv, Logits, StageInput};
use crate::models::ModelSpec;
use crate::techniques::TechniqueName;

/// How long a node waits for the handshake, and for the next request of an idle coordinator.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);

/// Least time each of the calibration's timings spans, seconds (ten 5 ms CFS periods and more).
const CALIBRATION_S: f64 = 0.08;

/// Serve on `listen` until killed (or after one coordinator with `once`). Prints
/// `listening on ADDR` as its first line of stdout.
pub fn serve(listen: &str, once: bool) -> Result<()> {
    let secret = protocol::secret_from_env()?;
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("node {addr}: accepting a connection: {e}");
                continue;
            }
        };
        let peer = stream.peer_addr().map_or("a coordinator".into(), |a| format!("coordinator {a}"));
        match session(stream, &secret, &peer) {
            Ok(true) if once => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                eprintln!("node {addr}: {peer}: {e:#}");
                if once {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// The stage this node holds.
struct Stage {
    decoder: Decoder,
    kvs: HashMap<u32, FlatKv>,
    compute_s: f64,
}

/// One coordinator's connection; `Ok(true)` once it authenticated and said goodbye (or left).
fn session(mut s: TcpStream, secret: &[u8], peer: &str) -> Result<bool> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let nonce = protocol::nonce();
    protocol::send(&mut s, &Message::new(Header::Challenge { version: protocol::VERSION, nonce: nonce.clone() }))?;
    let proof = match protocol::recv(&mut s, peer)?.header {
        Header::Prove { proof } => hex::decode(proof).unwrap_or_default(),
        _ => bail!("{peer} did not answer the challenge"),
    };
    if !protocol::verify(secret, nonce.as_bytes(), &proof) {
        let _ = protocol::send(&mut s, &Message::new(Header::Error { message: "wrong shared secret".into() }));
        bail!("{peer} does not hold the cluster's shared secret; connection closed");
    }
    protocol::send(&mut s, &Message::new(Header::Welcome { pid: std::process::id() }))?;
    s.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut stage: Option<Stage> = None;
    loop {
        let msg = match protocol::recv(&mut s, peer) {
            Ok(m) => m,
            Err(e) if e.to_string().contains("closed the connection") => return Ok(true),
            Err(e) => return Err(e),
        };
        if matches!(msg.header, Header::Bye) {
            return Ok(true);
        }
        let reply =
            handle(&msg, &mut stage).unwrap_or_else(|e| Message::new(Header::Error { message: format!("{e:#}") }));
        protocol::send(&mut s, &reply)?;
    }
}

fn handle(msg: &Message, stage: &mut Option<Stage>) -> Result<Message> {
    match &msg.header {
        Header::Calibrate { model, technique, hub_cache, batch, prompt, decode_steps } => Ok(Message::new(
            Header::Calibrated(calibrate(model, technique, hub_cache, *batch, *prompt, *decode_steps)?),
        )),
        Header::Load { model, technique, hub_cache, start, end, calibration } => {
            *stage = None;
            let mut plan = TechniqueName::parse(technique).map_err(anyhow::Error::msg)?.plan();
            plan.calibration = calibration.clone();
            let decoder = build_decoder(model, &plan, hub_cache, Some(*start..*end))?;
            let (weight_bytes, layers) = (decoder.load_stats.weight_bytes, decoder.layers());
            *stage = Some(Stage { decoder, kvs: HashMap::new(), compute_s: 0.0 });
            Ok(Message::new(Header::Loaded { weight_bytes, peak_rss_mb: rss::peak_rss_mb(), layers }))
        }
        Header::Forward { group, batch, pos, input, want } => {
            let st = stage.as_mut().context("no stage loaded on this node")?;
            let t0 = Instant::now();
            let (payload, body) = forward(st, msg, *group, *batch, *pos, *input, *want)?;
            let compute_s = t0.elapsed().as_secs_f64();
            st.compute_s += compute_s;
            let header = Header::Output { payload, compute_s };
            Ok(match body {
                Body::F32(v) => Message::with_f32(header, &v),
                Body::U32(v) => Message::with_u32(header, &v),
            })
        }
        Header::Reset => {
            if let Some(st) = stage.as_mut() {
                st.kvs.clear();
            }
            Ok(Message::new(Header::Done))
        }
        Header::Stats => Ok(Message::new(Header::NodeStats {
            peak_rss_mb: rss::peak_rss_mb(),
            compute_s: stage.as_ref().map_or(0.0, |s| s.compute_s),
        })),
        other => bail!("a node does not take {other:?}"),
    }
}

enum Body {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

fn forward(
    st: &mut Stage,
    msg: &Message,
    group: u32,
    batch: usize,
    pos: usize,
    input: Payload,
    want: Want,
) -> Result<(Payload, Body)> {
    let d = &st.decoder;
    if pos == 0 {
        st.kvs.insert(group, d.new_flat_kv(batch));
    }
    let kv = st
        .kvs
        .get_mut(&group)
        .with_context(|| format!("sequence group {group} has no KV cache: start at position 0"))?;
    let logits = if want == Want::AllLogits { Logits::All } else { Logits::Last };
    let out = match input {
        Payload::Tokens => d.forward_stage(StageInput::Tokens(&msg.u32s()?), batch, pos, kv, logits)?,
        Payload::Hidden => d.forward_stage(StageInput::Hidden(&msg.f32s()?), batch, pos, kv, logits)?,
        Payload::Logits => bail!("a stage does not take logits as input"),
    };
    if !d.has_head() {
        return Ok((Payload::Hidden, Body::F32(out)));
    }
    Ok(match want {
        Want::NextTokens => (Payload::Tokens, Body::U32(argmax_flat(&out, d.config().vocab_size))),
        Want::AllLogits => (Payload::Logits, Body::F32(out)),
    })
}

/// Resident memory of this process now, MiB.
fn current_rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// Time one decoder layer (the second, when there is one: it holds neither embedding nor head)
/// at the cell's shapes: the prompt of the whole batch, then `decode_steps` single steps.
fn calibrate(
    model: &ModelSpec,
    technique: &str,
    hub: &Path,
    batch: usize,
    prompt: usize,
    decode_steps: usize,
) -> Result<Calibration> {
    let base_rss_mb = current_rss_mb();
    let plan = TechniqueName::parse(technique).map_err(anyhow::Error::msg)?.plan();
    let cfg = model.config(hub)?;
    let l = usize::from(cfg.num_layers > 2);
    let d = build_decoder(model, &plan, hub, Some(l..l + 1))?;
    let h = cfg.hidden_size;
    let x: Vec<f32> = (0..batch * prompt * h).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1).collect();
    // Mean times over at least CALIBRATION_S each: a node under a CPU quota runs a few short
    // steps at full speed inside one CFS period, so only a span of many periods shows its share.
    let mut kv = d.new_flat_kv(batch);
    d.forward_stage(StageInput::Hidden(&x), batch, 0, &mut kv, Logits::Last)?; // warm-up
    let (mut n, t0) = (0u32, Instant::now());
    while n < 2 || (t0.elapsed().as_secs_f64() < CALIBRATION_S && n < 200) {
        kv = d.new_flat_kv(batch);
        d.forward_stage(StageInput::Hidden(&x), batch, 0, &mut kv, Logits::Last)?;
        n += 1;
    }
    let prefill = t0.elapsed().as_secs_f64() / n as f64;
    let (mut steps, t0) = (0u32, Instant::now());
    while steps < decode_steps.max(1) as u32 || (t0.elapsed().as_secs_f64() < CALIBRATION_S && steps < 2000) {
        let at = prompt + steps as usize % 8;
        kv.truncate(at);
        d.forward_stage(StageInput::Hidden(&x[..batch * h]), batch, at, &mut kv, Logits::Last)?;
        steps += 1;
    }
    let decode = t0.elapsed().as_secs_f64() / steps as f64;
    let layer_bytes = d.load_stats.weight_bytes;
    let layer_params = d.parameters().max(1);
    let head_params = cfg.vocab_size * h;
    Ok(Calibration {
        prefill_layer_s: prefill,
        decode_layer_s: decode,
        layer_bytes,
        embed_bytes: head_params * 4,
        head_bytes: (layer_bytes as f64 * head_params as f64 / layer_params as f64) as usize,
        base_rss_mb,
        layers: cfg.num_layers,
        hidden: h,
        kv_bytes_per_position: 2 * cfg.num_kv_heads * cfg.head_dim() * 4,
    })
}
