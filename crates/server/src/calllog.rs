//! The call log: one JSON object per finished call, appended to a file (format in ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

/// What is known of a call, filled in as it goes and written when it ends.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// The SIP Call-ID.
    pub call_id: String,
    /// The From header's URI.
    pub from: String,
    /// The To header's URI.
    pub to: String,
    /// The dialplan route that handled it (null when none matched).
    pub route: Option<String>,
    /// When the INVITE arrived (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// When we answered, if we did.
    #[serde(serialize_with = "rfc3339_opt")]
    pub answered_at: Option<SystemTime>,
    /// When early media began (183 Session Progress, the `progress` step); absent when it did not. An
    /// extension of the ARCHITECTURE.md format.
    #[serde(
        serialize_with = "rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub early_media_at: Option<SystemTime>,
    /// When the call ended.
    #[serde(serialize_with = "rfc3339_opt")]
    pub ended_at: Option<SystemTime>,
    /// Why it ended: caller_bye, server_bye, cancelled, rejected, timeout, shutdown, error.
    pub end_reason: String,
    /// The final SIP status we sent for the INVITE (200, or the rejection code).
    pub status: Option<u16>,
    /// Every DTMF digit received, in order.
    pub dtmf: String,
    /// Recordings made, relative to the recordings directory.
    pub recordings: Vec<String>,
    /// The dialplan's variables.
    pub vars: BTreeMap<String, String>,
    /// RTP figures of the call's media (absent for calls that never had media). An extension of the
    /// ARCHITECTURE.md format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp: Option<RtpSummary>,
    /// Failures the call survived, e.g. `recording failed: ...` when the disk filled (absent when none).
    /// An extension of the ARCHITECTURE.md format.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The call's last transfer attempt (absent when the dialplan did not transfer). An extension of the
    /// ARCHITECTURE.md format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferRecord>,
    /// Keys the dialplan sent to the caller (`send_dtmf`), in order (absent when none). An extension of
    /// the ARCHITECTURE.md format.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dtmf_sent: String,
}

/// The call log's `transfer` object.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TransferRecord {
    /// The target URI.
    pub to: String,
    /// `redirect` (302 before the answer) or `refer` (REFER after it).
    pub mode: &'static str,
    /// `transferred` (redirected, or the new call was answered), `refused` (the caller said no to the
    /// REFER, or never answered it), `failed` (the new call failed, or the subscription ended without its
    /// outcome), or `pending` (no final word before the call ended).
    pub result: &'static str,
    /// The status behind the result: the REFER's error response, or the new call's final status from the
    /// NOTIFY's sipfrag (302 for a redirect). Null when none came.
    pub status: Option<u16>,
}

/// The call log's `rtp` object: what flowed, what was lost, how much it jittered (RFC 3550 A.3, A.8),
/// and what the peer's RTCP reports said about our stream.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RtpSummary {
    /// The negotiated codec's SDP name.
    pub codec: String,
    /// RTP packets we sent.
    pub packets_sent: u64,
    /// RTP packets received from the peer.
    pub packets_received: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Packets the peer sent that never arrived (RFC 3550 A.3; negative with duplicates).
    pub packets_lost: i64,
    /// Lost over expected, 0..1.
    pub fraction_lost: f32,
    /// Interarrival jitter of the peer's stream in ms (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Frames the jitter buffer concealed.
    pub concealed: u64,
    /// Packets that came too late for the jitter buffer.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Loss the peer reported about our stream (RTCP), 0..1.
    pub remote_fraction_lost: f32,
    /// Jitter the peer reported about our stream (RTCP), ms.
    pub remote_jitter_ms: f64,
    /// Round-trip time from RTCP (LSR/DLSR), when the peer echoed one of our reports.
    pub rtt_ms: Option<f64>,
}

impl RtpSummary {
    /// Builds the summary from the stream's RTCP and jitter-buffer counters.
    pub fn new(
        codec: &str,
        s: &chorus_rtp::rtcp::CallRtpStats,
        j: &chorus_rtp::jitter::JitterStats,
    ) -> RtpSummary {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        RtpSummary {
            codec: codec.to_string(),
            packets_sent: s.packets_sent,
            packets_received: s.packets_received,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            packets_lost: s.packets_lost,
            fraction_lost: s.fraction_lost,
            jitter_ms: round(s.jitter_ms),
            concealed: j.lost,
            late: j.late,
            duplicates: j.duplicates,
            remote_fraction_lost: s.remote_reported_loss,
            remote_jitter_ms: round(s.remote_reported_jitter_ms),
            rtt_ms: s.rtt_ms.map(round),
        }
    }
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// Appends records to the call log file. Each record is one `write` of one line, so concurrent readers
/// never see half a line and a crash loses at most the line being written.
#[derive(Debug)]
pub struct CallLog {
    path: PathBuf,
    file: Option<File>,
}

impl CallLog {
    /// Opens (creating it and its directory if needed) the call log at `path`.
    pub fn open(path: &Path) -> std::io::Result<CallLog> {
        let mut log = CallLog {
            path: path.to_path_buf(),
            file: None,
        };
        log.reopen()?;
        Ok(log)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        Ok(())
    }

    /// Appends one record. A failed write is retried once on a freshly opened file (the directory may have
    /// been removed and recreated); a second failure is logged, never fatal.
    pub fn append(&mut self, record: &CallRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize call record");
                return;
            }
        };
        line.push(b'\n');
        let first = match self.file.as_mut() {
            Some(f) => f.write_all(&line),
            None => Err(std::io::Error::other("call log not open")),
        };
        if let Err(e) = first {
            tracing::warn!(error = %e, path = %self.path.display(), "call log write failed; reopening");
            let retry = self.reopen().and_then(|()| match self.file.as_mut() {
                Some(f) => f.write_all(&line),
                None => Err(std::io::Error::other("call log not open")),
            });
            if let Err(e) = retry {
                tracing::error!(error = %e, path = %self.path.display(), call_id = %record.call_id, "call log line lost");
            }
        }
    }
}
