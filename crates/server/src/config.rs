//! Configuration: embedded defaults, overridden by a YAML config file, overridden by command-line flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The resolved configuration `chorus serve` runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// SIP listen address, UDP and TCP.
    pub sip: SocketAddr,
    /// Address put in SDP and bound for RTP.
    pub media_ip: IpAddr,
    /// RTP port range, inclusive.
    pub rtp_ports: (u16, u16),
    /// The dialplan file.
    pub dialplan: PathBuf,
    /// The prompts directory.
    pub prompts: PathBuf,
    /// Where recordings go.
    pub recordings: PathBuf,
    /// The call log (JSON lines).
    pub call_log: PathBuf,
    /// Most concurrent calls; beyond it new INVITEs get 503.
    pub max_calls: usize,
    /// Codecs in preference order (SDP names): the answer picks the first one the offer has.
    pub codecs: Vec<String>,
    /// An answered call from which no RTP has come for this long (and that is not on hold) is hung up;
    /// None: never.
    pub rtp_timeout: Option<std::time::Duration>,
    /// Jitter buffer playout delay and reordering window, 20 ms to 1 s.
    pub jitter: std::time::Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sip: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            media_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtp_ports: (20000, 29999),
            dialplan: PathBuf::from("dialplans/demo.yaml"),
            prompts: PathBuf::from("prompts"),
            recordings: PathBuf::from("recordings"),
            call_log: PathBuf::from("recordings/calls.jsonl"),
            max_calls: 1000,
            // Wideband first when the peer has it; Opus and L16 only when configured.
            codecs: vec!["G722".into(), "PCMU".into(), "PCMA".into()],
            rtp_timeout: Some(std::time::Duration::from_secs(30)),
            jitter: chorus_rtp::stream::JITTER_DEPTH,
        }
    }
}

/// The config file's keys; every one optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `sip: 127.0.0.1:5060`
    pub sip: Option<String>,
    /// `media_ip: 127.0.0.1`
    pub media_ip: Option<String>,
    /// `rtp_ports: 20000-29999`
    pub rtp_ports: Option<String>,
    /// `dialplan: dialplans/demo.yaml`
    pub dialplan: Option<PathBuf>,
    /// `prompts: prompts`
    pub prompts: Option<PathBuf>,
    /// `recordings: recordings`
    pub recordings: Option<PathBuf>,
    /// `call_log: recordings/calls.jsonl`
    pub call_log: Option<PathBuf>,
    /// `max_calls: 1000`
    pub max_calls: Option<usize>,
    /// `codecs: [G722, PCMU, PCMA]`
    pub codecs: Option<Vec<String>>,
    /// `rtp_timeout: 30` (seconds; 0 turns it off)
    pub rtp_timeout: Option<u64>,
    /// `jitter_ms: 60`
    pub jitter_ms: Option<u64>,
}

/// Flags given on the command line (all optional).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Flags {
    /// YAML config file; flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SIP listen address (UDP and TCP) [default: 127.0.0.1:5060]
    #[arg(long, value_name = "ADDR:PORT")]
    pub sip: Option<String>,
    /// IP address for RTP, put in SDP [default: 127.0.0.1]
    #[arg(long, value_name = "IP")]
    pub media_ip: Option<String>,
    /// RTP port range [default: 20000-29999]
    #[arg(long, value_name = "LO-HI")]
    pub rtp_ports: Option<String>,
    /// Dialplan file [default: dialplans/demo.yaml]
    #[arg(long, value_name = "FILE")]
    pub dialplan: Option<PathBuf>,
    /// Prompts directory [default: prompts]
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Recordings directory [default: recordings]
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Call log, one JSON object per finished call [default: recordings/calls.jsonl]
    #[arg(long, value_name = "FILE")]
    pub call_log: Option<PathBuf>,
    /// Most concurrent calls; beyond it new calls get 503 [default: 1000]
    #[arg(long, value_name = "N")]
    pub max_calls: Option<usize>,
    /// Hang up an answered call after this many seconds without RTP (not while on hold); 0: never
    /// [default: 30]
    #[arg(long, value_name = "SECS")]
    pub rtp_timeout: Option<u64>,
    /// Jitter buffer depth: playout delay and reordering window, 20-1000 ms [default: 60]
    #[arg(long, value_name = "MS")]
    pub jitter_ms: Option<u64>,
}

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The config file is not valid.
    #[error("{0}")]
    Parse(String),
    /// A value is not valid.
    #[error("invalid {key}: {reason}")]
    Invalid {
        /// Which setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Defaults, then the config file, then the flags.
    pub fn resolve(flags: &Flags) -> Result<Config, ConfigError> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.clone(), e))?;
                parse_file(path, &text)?
            }
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let pick = |flag: &Option<String>, file: Option<String>| flag.clone().or(file);
        if let Some(s) = pick(&flags.sip, file.sip) {
            c.sip = s.parse().map_err(|_| ConfigError::Invalid {
                key: "sip",
                reason: format!("'{s}' is not ADDR:PORT"),
            })?;
        }
        if let Some(s) = pick(&flags.media_ip, file.media_ip) {
            c.media_ip = s.parse().map_err(|_| ConfigError::Invalid {
                key: "media-ip",
                reason: format!("'{s}' is not an IP address"),
            })?;
        }
        if let Some(s) = pick(&flags.rtp_ports, file.rtp_ports) {
            c.rtp_ports = parse_range(&s).ok_or_else(|| ConfigError::Invalid {
                key: "rtp-ports",
                reason: format!("'{s}' is not LO-HI with 1024 <= LO < HI <= 65535"),
            })?;
        }
        let path = |flag: &Option<PathBuf>, file: Option<PathBuf>, default: PathBuf| {
            flag.clone().or(file).unwrap_or(default)
        };
        c.dialplan = path(&flags.dialplan, file.dialplan, c.dialplan);
        c.prompts = path(&flags.prompts, file.prompts, c.prompts);
        let recordings_given = flags.recordings.is_some() || file.recordings.is_some();
        c.recordings = path(&flags.recordings, file.recordings, c.recordings);
        // The call log lives in the recordings directory unless placed elsewhere.
        let default_log = if recordings_given {
            c.recordings.join("calls.jsonl")
        } else {
            c.call_log.clone()
        };
        c.call_log = path(&flags.call_log, file.call_log, default_log);
        if let Some(n) = flags.max_calls.or(file.max_calls) {
            if n == 0 {
                return Err(ConfigError::Invalid {
                    key: "max-calls",
                    reason: "must be at least 1".into(),
                });
            }
            c.max_calls = n;
        }
        if let Some(codecs) = file.codecs {
            if codecs.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "codecs",
                    reason: "list at least one codec".into(),
                });
            }
            for name in &codecs {
                if chorus_rtp::codec::Codec::from_name(name).is_none() {
                    let known: Vec<&str> = chorus_rtp::codec::Codec::ALL
                        .iter()
                        .map(|c| c.name())
                        .collect();
                    return Err(ConfigError::Invalid {
                        key: "codecs",
                        reason: format!("unknown codec '{name}' (known: {})", known.join(", ")),
                    });
                }
            }
            c.codecs = codecs;
        }
        if let Some(ms) = flags.jitter_ms.or(file.jitter_ms) {
            if !(20..=1000).contains(&ms) {
                return Err(ConfigError::Invalid {
                    key: "jitter-ms",
                    reason: format!("{ms} is outside 20-1000 (milliseconds)"),
                });
            }
            c.jitter = std::time::Duration::from_millis(ms);
        }
        if let Some(secs) = flags.rtp_timeout.or(file.rtp_timeout) {
            c.rtp_timeout = (secs > 0).then(|| std::time::Duration::from_secs(secs));
        }
        Ok(c)
    }
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let msg = e.to_string();
        let msg = msg.lines().next().unwrap_or_default().to_string();
        ConfigError::Parse(format!("{}:{line}:{col}: {msg}", path.display()))
    })
}

/// Parses `LO-HI`.
pub fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = s.trim().split_once('-')?;
    let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo >= 1024 && lo < hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::resolve(&Flags::default()).unwrap();
        assert_eq!(c.sip.to_string(), "127.0.0.1:5060");
        assert_eq!(c.media_ip.to_string(), "127.0.0.1");
        assert_eq!(c.rtp_ports, (20000, 29999));
        assert_eq!(c.dialplan, PathBuf::from("dialplans/demo.yaml"));
        assert_eq!(c.prompts, PathBuf::from("prompts"));
        assert_eq!(c.recordings, PathBuf::from("recordings"));
        assert_eq!(c.call_log, PathBuf::from("recordings/calls.jsonl"));
        assert_eq!(c.rtp_timeout, Some(std::time::Duration::from_secs(30)));
        assert_eq!(c.jitter, std::time::Duration::from_millis(60));
    }

    #[test]
    fn flags_override_file() {
        let dir = std::env::temp_dir().join(format!("chorus-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(
            &file,
            "sip: 127.0.0.1:5070\nrtp_ports: 30000-30099\nrecordings: /tmp/r\nmax_calls: 7\nrtp_timeout: 0\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(file.clone()),
            sip: Some("127.0.0.1:5080".into()),
            ..Flags::default()
        };
        let c = Config::resolve(&flags).unwrap();
        assert_eq!(c.sip.port(), 5080);
        assert_eq!(c.rtp_ports, (30000, 30099));
        assert_eq!(c.call_log, PathBuf::from("/tmp/r/calls.jsonl"));
        assert_eq!(c.max_calls, 7);
        assert_eq!(c.rtp_timeout, None, "0 turns it off");
        let c = Config::resolve(&Flags {
            rtp_timeout: Some(5),
            ..flags.clone()
        })
        .unwrap();
        assert_eq!(c.rtp_timeout, Some(std::time::Duration::from_secs(5)));
        let jitter = |ms| {
            Config::resolve(&Flags {
                jitter_ms: Some(ms),
                ..flags.clone()
            })
        };
        assert_eq!(
            jitter(200).unwrap().jitter,
            std::time::Duration::from_millis(200)
        );
        let err = jitter(5).unwrap_err().to_string();
        assert!(
            err.contains("jitter-ms") && err.contains("20-1000"),
            "{err}"
        );
        std::fs::write(&file, "sip: 127.0.0.1:5070\nsipp: x\n").unwrap();
        let err = Config::resolve(&flags).unwrap_err().to_string();
        assert!(err.contains("c.yaml:2:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("20000-29999"), Some((20000, 29999)));
        assert_eq!(parse_range("30000-20000"), None);
        assert_eq!(parse_range("80-90"), None);
        assert_eq!(parse_range("x"), None);
    }
}
