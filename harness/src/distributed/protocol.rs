//! The wire protocol between a coordinator and `harness node` processes.
//!
//! A message is a frame: its length (u32, little-endian), then the length of a JSON header
//! (u32), the header, and a binary body (f32 or u32 values, little-endian). Frames over
//! [`MAX_FRAME`] are refused before anything is allocated for them. A connection starts with a
//! challenge: the node sends a random nonce, the coordinator answers HMAC-SHA256(secret, nonce);
//! a wrong answer ends the connection. The secret itself never crosses the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::models::ModelSpec;

/// The largest frame either side accepts: 256 MiB (the logits of a scoring pass fit).
pub const MAX_FRAME: usize = 256 << 20;

/// Version of this protocol; a node refuses a coordinator of another.
pub const VERSION: u32 = 1;

/// Environment variable holding the cluster's shared secret.
pub const SECRET_ENV: &str = "HARNESS_CLUSTER_SECRET";
/// Environment variable naming a file that holds the shared secret.
pub const SECRET_FILE_ENV: &str = "HARNESS_CLUSTER_SECRET_FILE";

/// The shared secret from the environment or the file it names (never a command-line argument).
pub fn secret_from_env() -> Result<Vec<u8>> {
    if let Some(s) = std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty()) {
        return Ok(s.into_encoded_bytes());
    }
    if let Some(path) = std::env::var_os(SECRET_FILE_ENV) {
        let text = std::fs::read(&path).with_context(|| format!("reading the cluster secret from {path:?}"))?;
        let trimmed = text.trim_ascii().to_vec();
        if trimmed.is_empty() {
            bail!("the cluster secret file {path:?} is empty");
        }
        return Ok(trimmed);
    }
    bail!("no cluster secret: set {SECRET_ENV}, or {SECRET_FILE_ENV} to a file holding it")
}

/// HMAC-SHA256 of `nonce` under `secret`.
pub fn prove(secret: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(nonce);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `proof` is HMAC-SHA256(secret, nonce), compared in constant time.
pub fn verify(secret: &[u8], nonce: &[u8], proof: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(nonce);
    mac.verify_slice(proof).is_ok()
}

/// What a stage's input or output carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// Token ids (u32).
    Tokens,
    /// Hidden states, positions × hidden (f32).
    Hidden,
    /// Logits, rows × vocab (f32).
    Logits,
}

/// What the last stage sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Want {
    /// The greedy next token of each sequence (generation: only ids cross the link home).
    NextTokens,
    /// Logits of every position (scoring).
    AllLogits,
}

/// Every message header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Header {
    /// Node → coordinator on connect.
    Challenge {
        version: u32,
        nonce: String,
    },
    /// Coordinator → node: the HMAC of the nonce (hex).
    Prove {
        proof: String,
    },
    Welcome {
        pid: u32,
    },
    /// Time one decoder layer of `model` on this node at the workload's shapes.
    Calibrate {
        model: ModelSpec,
        technique: String,
        hub_cache: PathBuf,
        batch: usize,
        prompt: usize,
        decode_steps: usize,
    },
    Calibrated(Calibration),
    /// Build the decoder layers `start..end` (with the embedding when `start` is 0 and the output
    /// head when `end` is the last layer).
    Load {
        model: ModelSpec,
        technique: String,
        hub_cache: PathBuf,
        start: usize,
        end: usize,
        calibration: Vec<u32>,
    },
    Loaded {
        weight_bytes: usize,
        peak_rss_mb: f64,
        layers: usize,
    },
    /// Run this stage for sequence group `group` (its own KV cache) from position `pos`.
    Forward {
        group: u32,
        batch: usize,
        pos: usize,
        input: Payload,
        want: Want,
    },
    /// The stage's output and its compute time.
    Output {
        payload: Payload,
        compute_s: f64,
    },
    /// Forget every KV cache.
    Reset,
    Done,
    /// Peak memory and compute so far.
    Stats,
    NodeStats {
        peak_rss_mb: f64,
        compute_s: f64,
    },
    /// Either side: what went wrong (the connection stays usable unless it says otherwise).
    Error {
        message: String,
    },
    Bye,
}

/// A stage's timings at the cell's shapes, for the split policies' cost model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// One layer over the prompt of the whole batch, seconds.
    pub prefill_layer_s: f64,
    /// One layer for one decode step of the whole batch, seconds.
    pub decode_layer_s: f64,
    /// Bytes of one layer's weights as built.
    pub layer_bytes: usize,
    /// Bytes of the token embedding and of the output head as built.
    pub embed_bytes: usize,
    pub head_bytes: usize,
    /// Resident memory of the node process before any weights, MiB.
    pub base_rss_mb: f64,
    pub layers: usize,
    pub hidden: usize,
    /// Bytes of keys and values per layer per position per sequence.
    pub kv_bytes_per_position: usize,
}

/// A message: header and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub header: Header,
    pub body: Vec<u8>,
}

impl Message {
    pub fn new(header: Header) -> Self {
        Message { header, body: vec![] }
    }

    pub fn with_f32(header: Header, values: &[f32]) -> Self {
        Message { header, body: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    pub fn with_u32(header: Header, values: &[u32]) -> Self {
        Message { header, body: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    pub fn f32s(&self) -> Result<Vec<f32>> {
        if !self.body.len().is_multiple_of(4) {
            bail!("a body of {} bytes is not whole f32 values", self.body.len());
        }
        Ok(self.body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    pub fn u32s(&self) -> Result<Vec<u32>> {
        if !self.body.len().is_multiple_of(4) {
            bail!("a body of {} bytes is not whole u32 values", self.body.len());
        }
        Ok(self.body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// Bytes this message takes on the wire.
    pub fn wire_bytes(&self) -> usize {
        8 + serde_json::to_vec(&self.header).map_or(0, |h| h.len()) + self.body.len()
    }
}

/// Write one frame.
pub fn send(w: &mut impl Write, msg: &Message) -> Result<()> {
    let header = serde_json::to_vec(&msg.header)?;
    let len = 4 + header.len() + msg.body.len();
    if len > MAX_FRAME {
        bail!("a message of {len} bytes is over the protocol's {} MiB limit", MAX_FRAME >> 20);
    }
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&msg.body);
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Read one frame; `peer` names the other side in errors. A closed connection, an oversized or
/// malformed frame are errors that say so.
pub fn recv(r: &mut impl Read, peer: &str) -> Result<Message> {
    let mut len = [0u8; 4];
    if let Err(e) = r.read_exact(&mut len) {
        return Err(match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                anyhow::anyhow!("{peer} closed the connection")
            }
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                anyhow::anyhow!("{peer} did not answer in time")
            }
            _ => anyhow::anyhow!("reading from {peer}: {e}"),
        });
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        bail!("{peer} sent a message of {len} bytes, over the protocol's {} MiB limit", MAX_FRAME >> 20);
    }
    if len < 4 {
        bail!("{peer} sent a malformed message ({len} bytes, no header)");
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| anyhow::anyhow!("{peer} broke off a message: {e}"))?;
    let hlen = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if 4 + hlen > len {
        bail!("{peer} sent a malformed message (header of {hlen} bytes in a frame of {len})");
    }
    let header: Header = serde_json::from_slice(&buf[4..4 + hlen])
        .map_err(|e| anyhow::anyhow!("{peer} sent a malformed message header: {e}"))?;
    Ok(Message { header, body: buf[4 + hlen..].to_vec() })
}

/// A random nonce, hex.
pub fn nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The coordinator's side of the handshake on a fresh connection to `peer`.
pub fn authenticate(stream: &mut TcpStream, secret: &[u8], peer: &str) -> Result<u32> {
    let msg = recv(stream, peer)?;
    let Header::Challenge { version, nonce } = msg.header else {
        bail!("{peer} did not start with a challenge; is it a harness node?");
    };
    if version != VERSION {
        bail!("{peer} speaks node protocol {version}, this harness {VERSION}");
    }
    send(stream, &Message::new(Header::Prove { proof: hex::encode(prove(secret, nonce.as_bytes())) }))?;
    match recv(stream, peer)?.header {
        Header::Welcome { pid } => Ok(pid),
        Header::Error { message } => bail!("{peer} refused this coordinator: {message}"),
        other => bail!("{peer} answered the proof with {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_or_malformed_ones_are_refused() {
        let m = Message::with_f32(Header::Output { payload: Payload::Hidden, compute_s: 0.5 }, &[1.0, -2.5]);
        let mut buf = Vec::new();
        send(&mut buf, &m).unwrap();
        assert_eq!(buf.len(), m.wire_bytes());
        let back = recv(&mut buf.as_slice(), "peer").unwrap();
        assert_eq!(back.f32s().unwrap(), vec![1.0, -2.5]);
        // A length over the limit is refused before reading (or allocating) the rest.
        let mut big = ((MAX_FRAME + 1) as u32).to_le_bytes().to_vec();
        big.extend_from_slice(&[0; 16]);
        assert!(recv(&mut big.as_slice(), "peer").unwrap_err().to_string().contains("over the protocol"));
        let mut junk = 12u32.to_le_bytes().to_vec();
        junk.extend_from_slice(&8u32.to_le_bytes());
        junk.extend_from_slice(b"notjson!");
        assert!(recv(&mut junk.as_slice(), "peer").unwrap_err().to_string().contains("malformed"));
        assert!(recv(&mut &buf[..3], "peer").unwrap_err().to_string().contains("closed the connection"));
    }

    #[test]
    fn only_the_secret_proves_the_nonce() {
        let p = prove(b"s3cret", b"nonce");
        assert!(verify(b"s3cret", b"nonce", &p));
        assert!(!verify(b"other", b"nonce", &p));
        assert!(!verify(b"s3cret", b"nonce2", &p));
    }
}
