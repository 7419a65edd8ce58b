//! Harness for the end-to-end tests: the real `chorus` binary on free ports in a fresh directory, and the
//! real peers that call it (SIPp scenarios in `tests/sipp/`, PJSUA2 through `tests/pjsua/call.py`).
//!
//! Tests in one binary run in parallel threads, and several binaries run one after another, so every
//! instance gets its own SIP port, RTP range and directory. Nothing here is skipped when a peer is missing:
//! `tests/run.sh` installs them, and a test without its peer fails saying so.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod audio;
pub mod pcap;
pub mod recording;
pub mod rtp;
pub mod sip;

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The repository root (the root package's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `chorus` binary under test: `$CHORUS_BIN`, else `target/debug/chorus`.
pub fn chorus_bin() -> PathBuf {
    let path = match std::env::var_os("CHORUS_BIN") {
        Some(p) => PathBuf::from(p),
        None => repo_root().join("target/debug/chorus"),
    };
    assert!(
        path.is_file(),
        "the chorus binary is missing at {}: build it with `cargo build -p chorus` \
         (or run `bash tests/run.sh`, which builds it and sets CHORUS_BIN)",
        path.display()
    );
    path
}

/// Ports handed out by this process, so two parallel tests never get the same one.
static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
/// Counts instances and scratch directories in this process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn claim(ports: &[u16]) -> bool {
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let set = taken.get_or_insert_with(HashSet::new);
    if ports.iter().any(|p| set.contains(p)) {
        return false;
    }
    set.extend(ports.iter().copied());
    true
}

/// A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both), not handed out before.
pub fn free_sip_port() -> u16 {
    for _ in 0..200 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && claim(&[port]) {
            return port;
        }
    }
    panic!("no free UDP+TCP port on 127.0.0.1");
}

/// An even UDP port with the next `n - 1` ports also free (RTP, RTCP, and SIPp's video pair).
pub fn free_udp_block(n: u16) -> u16 {
    for _ in 0..200 {
        let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let base = s.local_addr().unwrap().port() & !1;
        if base.checked_add(n).is_none() {
            continue;
        }
        drop(s);
        let ports: Vec<u16> = (base..base + n).collect();
        let all_free = ports
            .iter()
            .all(|p| UdpSocket::bind(("127.0.0.1", *p)).is_ok());
        if all_free && claim(&ports) {
            return base;
        }
    }
    panic!("no free block of {n} UDP ports on 127.0.0.1");
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "chorus-e2e-{what}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// RTP ports 30000-32767: below Linux's ephemeral range (32768+), so the OS never hands them to the
/// SIP and SIPp sockets the harness binds on port 0. Each instance gets its own 200-port slice.
fn rtp_range() -> (u16, u16) {
    const SLICES: u32 = (32767 - 30000 + 1) / 200;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let k = (std::process::id().wrapping_mul(7).wrapping_add(n)) % SLICES;
    let lo = 30000 + (k * 200) as u16;
    (lo, lo + 199)
}

/// A running `chorus serve`, killed on drop; its log is printed when the test failed.
pub struct Chorus {
    child: Option<Child>,
    /// Scratch directory: recordings, call log, log file, config.
    pub dir: PathBuf,
    sip: SocketAddr,
    /// The RTP port range it was given.
    pub rtp_ports: (u16, u16),
    log: PathBuf,
    call_log: PathBuf,
    dialplan: String,
    config_yaml: Option<String>,
    /// Set when a restarted instance took the directory over: dropping this one must not remove it.
    keep_dir: bool,
}

impl Chorus {
    /// Starts `chorus serve` with `dialplan` (a path relative to the repository root) and waits until it
    /// answers OPTIONS.
    pub fn start(dialplan: &str) -> Chorus {
        Chorus::start_with_config(dialplan, None)
    }

    /// Like [`Chorus::start`], also passing `--config` with this YAML (flags still set ports and paths).
    pub fn start_with_config(dialplan: &str, config_yaml: Option<&str>) -> Chorus {
        Chorus::spawn(dialplan, config_yaml, scratch_dir("chorus"), "chorus.log")
    }

    /// Starts `chorus serve` with a dialplan written for it: `make` gets the SIP address the instance will
    /// listen on and returns the dialplan YAML (for routes that point back at the server itself, such as
    /// a transfer target). The file is `dialplan.yaml` in the instance's directory.
    pub fn start_generated(make: impl FnOnce(SocketAddr) -> String) -> Chorus {
        let dir = scratch_dir("chorus");
        let port = free_sip_port();
        let path = dir.join("dialplan.yaml");
        std::fs::write(&path, make(SocketAddr::from(([127, 0, 0, 1], port)))).unwrap();
        let dialplan = path.to_string_lossy().into_owned();
        Chorus::spawn_on(&dialplan, None, dir, "chorus.log", port)
    }

    /// Starts `chorus serve` in `dir` (recordings in `dir/recordings`), logging to `dir/log_name`.
    fn spawn(dialplan: &str, config_yaml: Option<&str>, dir: PathBuf, log_name: &str) -> Chorus {
        Chorus::spawn_on(dialplan, config_yaml, dir, log_name, free_sip_port())
    }

    /// Like [`Chorus::spawn`], on this SIP port (`dialplan` may also be an absolute path).
    fn spawn_on(
        dialplan: &str,
        config_yaml: Option<&str>,
        dir: PathBuf,
        log_name: &str,
        port: u16,
    ) -> Chorus {
        let bin = chorus_bin();
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        let call_log = recordings.join("calls.jsonl");
        let log = dir.join(log_name);
        let sip: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let rtp_ports = rtp_range();
        let root = repo_root();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve");
        if let Some(yaml) = config_yaml {
            let path = dir.join("config.yaml");
            std::fs::write(&path, yaml).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.arg("--sip")
            .arg(sip.to_string())
            .args(["--media-ip", "127.0.0.1"])
            .arg("--rtp-ports")
            .arg(format!("{}-{}", rtp_ports.0, rtp_ports.1))
            .arg("--dialplan")
            .arg(root.join(dialplan))
            .arg("--prompts")
            .arg(root.join("prompts"))
            .arg("--recordings")
            .arg(&recordings)
            .arg("--call-log")
            .arg(&call_log)
            .current_dir(&dir)
            .env("CHORUS_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("chorus.stdout")).unwrap())
            .stderr(File::create(&log).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut chorus = Chorus {
            child: Some(child),
            dir,
            sip,
            rtp_ports,
            log,
            call_log,
            dialplan: dialplan.to_string(),
            config_yaml: config_yaml.map(str::to_string),
            keep_dir: false,
        };
        chorus.wait_ready(Duration::from_secs(5));
        chorus
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut n = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "chorus exited during startup with {status}; log:\n{}",
                    self.log_text()
                );
            }
            n += 1;
            let msg = sip::options(&sock, self.sip, &format!("ready-{n}"));
            let _ = sock.send_to(msg.as_bytes(), self.sip);
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                match sip::recv(&sock, Duration::from_millis(200)) {
                    Some((m, _)) if m.status() == Some(200) => return,
                    Some(_) => continue,
                    None => break,
                }
            }
        }
        panic!(
            "chorus did not answer OPTIONS on {} within {timeout:?}; log:\n{}",
            self.sip,
            self.log_text()
        );
    }

    /// The SIP address (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The call log's lines, parsed. A line that is not JSON fails the test.
    pub fn call_log(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.call_log).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("call log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Waits until the call log has at least `n` lines and returns them.
    pub fn wait_call_log(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.call_log();
            if lines.len() >= n {
                return lines;
            }
            if Instant::now() >= deadline {
                panic!(
                    "call log has {} lines after {timeout:?}, expected {n}: {lines:#?}",
                    lines.len()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; `None` when it did not exit in time.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.pid();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM {pid} failed");
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit; `None` when it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(None))
    }

    /// The recordings directory (the call log lists recordings relative to it).
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir.join("recordings")
    }

    /// Sends a signal (`"HUP"`, `"KILL"`…) with `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self.pid();
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{name} {pid} failed");
    }

    /// Sends SIGHUP (reload the dialplan).
    pub fn sighup(&self) {
        self.signal("HUP");
    }

    /// Kills the process with SIGKILL (no cleanup at all, as in a crash) and waits for it to be gone.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        assert!(
            self.wait_exit(Duration::from_secs(5)).is_some(),
            "chorus survived SIGKILL"
        );
    }

    /// Starts a new `chorus serve` on the same directory (recordings, call log) and dialplan, after this
    /// one was killed or stopped; its log goes to `chorus-<n>.log`. The old instance keeps the directory.
    pub fn restart(mut self) -> Chorus {
        if self.is_running() {
            self.kill9();
        }
        self.keep_dir = true;
        let n = (2..)
            .find(|n| !self.dir.join(format!("chorus-{n}.log")).exists())
            .unwrap();
        eprintln!(
            "---- log of the previous chorus ----\n{}\n---- end ----",
            self.log_text()
        );
        Chorus::spawn(
            &self.dialplan,
            self.config_yaml.as_deref(),
            self.dir.clone(),
            &format!("chorus-{n}.log"),
        )
    }

    /// Waits up to `timeout` until the server's log contains `needle`; whether it did.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many times the server's log contains `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }
}

impl Drop for Chorus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- chorus log ({}) ----\n{}\n---- call log ----\n{}\n---- end; files kept in {} ----",
                self.log.display(),
                self.log_text(),
                std::fs::read_to_string(&self.call_log).unwrap_or_default(),
                self.dir.display()
            );
        } else if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// SIP transport for a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// The path of a SIPp scenario in `tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    repo_root().join("tests/sipp").join(name)
}

/// Fails the test when a peer program is not installed.
pub fn require(program: &str, install_hint: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed; the end-to-end tests need it ({install_hint}; `bash tests/run.sh` does this)"
    );
}

/// What a SIPp run produced.
pub struct SippRun {
    /// Exit status (0: every call succeeded; 1: some failed).
    pub status: Option<i32>,
    /// Its screen output.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// The `-trace_err` file, if any.
    pub errors: String,
    /// The `-trace_msg` file: every message sent and received.
    pub messages: String,
    /// SIPp's working directory (kept when the run failed).
    pub dir: PathBuf,
}

impl SippRun {
    /// Fails with everything SIPp said unless it exited 0.
    pub fn assert_success(&self, what: &str) {
        assert_eq!(self.status, Some(0), "{what}: sipp failed\n{self}");
    }
}

impl std::fmt::Display for SippRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = |s: &str, n: usize| {
            let start = s.len().saturating_sub(n);
            let start = (start..s.len())
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(s.len());
            s[start..].to_string()
        };
        write!(
            f,
            "exit status: {:?} (files in {})\n---- sipp errors ----\n{}\n---- sipp stderr ----\n{}\n---- sipp messages (tail) ----\n{}\n---- sipp screen (tail) ----\n{}",
            self.status,
            self.dir.display(),
            self.errors,
            self.stderr,
            tail(&self.messages, 6000),
            tail(&self.stdout, 3000)
        )
    }
}

/// Runs a SIPp scenario from `tests/sipp/` in the foreground against `target`: `calls` calls, at most
/// `calls` at once, calling user `service`. `extra` is appended to the command line. SIPp is killed
/// when it runs past `timeout`.
pub fn sipp(
    scenario_name: &str,
    target: SocketAddr,
    service: &str,
    transport: Transport,
    calls: u32,
    extra: &[&str],
    timeout: Duration,
) -> SippRun {
    sipp_with_files(
        scenario_name,
        target,
        service,
        transport,
        calls,
        extra,
        timeout,
        &[],
    )
}

/// A file in `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// Like [`sipp`], first copying `files` into SIPp's working directory: scenarios name the pcaps they
/// play (`play_pcap_audio="dtmf_2833_1.pcap"`) relative to it, as SIPp reads them when it loads the
/// scenario, before any variable could say where they are.
#[allow(clippy::too_many_arguments)]
pub fn sipp_with_files(
    scenario_name: &str,
    target: SocketAddr,
    service: &str,
    transport: Transport,
    calls: u32,
    extra: &[&str],
    timeout: Duration,
    files: &[&Path],
) -> SippRun {
    require("sipp", "Debian package sip-tester");
    let dir = scratch_dir("sipp");
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_else(|| panic!("{} has no file name", f.display()));
        std::fs::copy(f, dir.join(name))
            .unwrap_or_else(|e| panic!("copy {} for sipp: {e}", f.display()));
    }
    let port = free_sip_port();
    let media = free_udp_block(4);
    let scenario = scenario(scenario_name);
    assert!(
        scenario.is_file(),
        "missing scenario {}",
        scenario.display()
    );
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", service])
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .arg("-p")
        .arg(port.to_string())
        .arg("-mp")
        .arg(media.to_string())
        .args([
            "-t",
            if transport == Transport::Udp {
                "u1"
            } else {
                "t1"
            },
        ])
        .arg("-m")
        .arg(calls.to_string())
        .arg("-l")
        .arg(calls.to_string())
        .arg("-timeout")
        .arg(format!("{}s", timeout.as_secs().max(1)))
        .args(["-timeout_error", "-nostdin", "-trace_err", "-trace_msg"])
        .arg("-error_file")
        .arg(dir.join("errors.log"))
        .arg("-message_file")
        .arg(dir.join("messages.log"))
        .args(extra)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, timeout + Duration::from_secs(5), "sipp");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let run = SippRun {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        errors: read("errors.log"),
        messages: read("messages.log"),
        dir: dir.clone(),
    };
    if run.status == Some(0) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    run
}

/// Runs `cmd` to completion, killing it after `timeout` (its output so far is kept).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration, what: &str) -> Output {
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            eprintln!("{what} ran past {timeout:?}: killing it");
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// Checks the PJSUA2 Python binding is importable, failing the test with how to install it otherwise.
pub fn require_pjsua2() {
    let ok = Command::new("python3")
        .args(["-c", "import pjsua2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 cannot import pjsua2; the media tests need it (`python3 -m pip install pjsua2-python`; \
         `bash tests/run.sh` does this)"
    );
}

/// Options for one PJSUA2 call made by `tests/pjsua/call.py`.
pub struct PjCall<'a> {
    /// The Request-URI user.
    pub user: &'a str,
    /// WAV to send into the call (8 kHz mono 16-bit), if any.
    pub play: Option<&'a Path>,
    /// Where to record what the call sends us.
    pub record: &'a Path,
    /// How long to stay in the call after media is up (ignored with `wait_bye`, where it is the limit).
    pub seconds: f64,
    /// Wait for the remote end to hang up instead of hanging up ourselves.
    pub wait_bye: bool,
    /// Offer only this codec (`PCMU`, `PCMA` or `G722`).
    pub codec: Option<&'a str>,
}

/// Runs `tests/pjsua/call.py` against `target` and returns its JSON result line.
pub fn pjsua_call(target: SocketAddr, call: &PjCall) -> serde_json::Value {
    pjsua_call_args(target, call, &[])
}

/// Like [`pjsua_call`], appending `extra` to call.py's command line (`--dtmf 123`,
/// `--dtmf-method info`, `--prefer G722`, `--clock-rate 16000`; see `call.py --help`).
pub fn pjsua_call_args(target: SocketAddr, call: &PjCall, extra: &[&str]) -> serde_json::Value {
    require_pjsua2();
    let script = repo_root().join("tests/pjsua/call.py");
    let rtp = free_udp_block(8);
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg("--target")
        .arg(target.to_string())
        .args(["--user", call.user])
        .arg("--record")
        .arg(call.record)
        .arg("--seconds")
        .arg(call.seconds.to_string())
        .arg("--rtp-port")
        .arg(rtp.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = call.play {
        cmd.arg("--play").arg(p);
    }
    if call.wait_bye {
        cmd.arg("--wait-bye");
    }
    if let Some(c) = call.codec {
        cmd.args(["--codec", c]);
    }
    cmd.args(extra);
    let limit = Duration::from_secs_f64(call.seconds + 20.0);
    let out = run_with_timeout(cmd, limit, "pjsua call.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "call.py printed no result ({}):\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}",
                out.status
            )
        });
    let v: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("call.py result is not JSON ({e}): {line}\n{stderr}"));
    if !out.status.success() {
        eprintln!("call.py exited {}:\n{stderr}", out.status);
    }
    v
}

/// A PJSUA2 call to `user` at `target` (Chorus, or a proxy in front of it) that accepts a REFER and follows
/// it (`call.py --follow-transfer 3`), recording to `record` and waiting up to `seconds` for Chorus's BYE.
pub fn pjsua_follow_refer(
    target: SocketAddr,
    user: &str,
    record: &Path,
    seconds: f64,
) -> serde_json::Value {
    let result = pjsua_call_args(
        target,
        &PjCall {
            user,
            play: None,
            record,
            seconds,
            wait_bye: true,
            codec: Some("PCMU"),
        },
        &["--follow-transfer", "3"],
    );
    eprintln!("call.py: {result}");
    assert_eq!(result["connected"], true, "{result}");
    assert!(result["error"].is_null(), "{result}");
    assert_eq!(
        result["remote_bye"], true,
        "Chorus hangs up the first call (once transferred, or after its next steps): {result}"
    );
    let xfer = &result["transfer"];
    assert_eq!(xfer["created"], true, "PJSUA placed the new call: {result}");
    result
}

/// The call-log line's `transfer` object: a REFER to `to` with this `result` and `status`.
pub fn assert_refer_logged(line: &serde_json::Value, to: &str, result: &str, status: u16) {
    let t = &line["transfer"];
    assert_eq!(t["to"], to, "{line}");
    assert_eq!(t["mode"], "refer", "{line}");
    assert_eq!(t["result"], result, "{line}");
    assert_eq!(t["status"], status, "the NOTIFY's sipfrag: {line}");
}
