//! Why an nf_tables request or batch failed.

use std::io;

use netlink_packet_core::DecodeError;
use nix::errno::Errno;
use thiserror::Error;

use crate::nftables::Ack;
#[cfg(doc)]
use crate::nftables::NftMessage;

/// One message of a batch the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Index in the batch of the refused message; `None` when the kernel refused the batch
    /// as a whole (its BATCH_BEGIN), e.g. for a stale generation.
    pub index: Option<usize>,
    /// What the refused message did ([`NftMessage::describe`]), for the log line.
    pub what: Option<String>,
    pub ack: Ack,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errno = Errno::from_raw(self.ack.errno);
        match (&self.index, &self.what) {
            (Some(i), Some(what)) => write!(f, "message {i} ({what}) refused: {errno}")?,
            (Some(i), None) => write!(f, "message {i} refused: {errno}")?,
            (None, _) => write!(f, "batch refused: {errno}")?,
        }
        if let Some(m) = &self.ack.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

/// Failures of the nf_tables client. `GenerationChanged` is retryable at once (recompute
/// against the new generation); `Refused` is not (the same batch fails the same way) but
/// leaves the kernel as it was before the refused part; `Io`, `DumpInterrupted` and
/// `DumpInconsistent` are retryable.
#[derive(Debug, Error)]
pub enum NftError {
    #[error("nf_tables {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("nf_tables {op}: undecodable reply: {source}")]
    Decode {
        op: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error("nf_tables {op}: {}", Errno::from_raw(*errno))]
    Kernel { op: &'static str, errno: i32 },
    /// Another process committed since the generation the batch was computed against
    /// (`ERESTART`). Nothing of that part was applied; `committed_parts` earlier parts were.
    #[error(
        "nf_tables batch refused: the ruleset generation changed ({committed_parts} earlier parts committed)"
    )]
    GenerationChanged { committed_parts: usize },
    /// The kernel refused messages of a batch part: nothing of that part was applied;
    /// `committed_parts` earlier parts were.
    #[error("nf_tables batch refused ({committed_parts} earlier parts committed): {}", first(.refusals))]
    Refused {
        refusals: Vec<Refusal>,
        committed_parts: usize,
    },
    /// The ruleset changed while a dump was running (`NLM_F_DUMP_INTR`): dump again.
    #[error("nf_tables {op}: dump interrupted by a concurrent change")]
    DumpInterrupted { op: &'static str },
    /// Set dumps kept repeating elements (the kernel resizing the set's hash table under
    /// them): dump again later.
    #[error("nf_tables {op}: the set changed shape during every dump")]
    DumpInconsistent { op: &'static str },
}

fn first(refusals: &[Refusal]) -> String {
    match refusals {
        [] => "no reason given".into(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} and {} more", rest.len()),
    }
}
