//! Kamailio in front of Chorus for the end-to-end tests in `tests/kamailio_*.rs`: Debian's `kamailio`
//! started in the foreground on a free loopback port with a config generated from the template
//! `tests/kamailio/proxy.cfg`, in a fresh directory of its own (pid file, runtime dir, ctl socket,
//! dispatcher list, log), and stopped when dropped.
//!
//! Test files take it in with `#[path = "common/kamailio.rs"] mod kamailio;` next to `mod common;`.

#![allow(dead_code)] // each test binary uses a different part of it

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_sip_port, repo_root, scratch_dir, sip, sipp, SippRun, Transport};

/// Where Debian's kamailio keeps its modules.
pub const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";

/// A Kamailio program: on the PATH, else in /usr/sbin (not on an ordinary user's PATH).
pub fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin").join(name));
    assert!(
        path.is_file(),
        "`{name}` is not installed; the Kamailio tests need it (Debian package kamailio; \
         `bash tests/run.sh` installs it)"
    );
    path
}

/// How the proxy picks the Chorus a new request goes to.
pub enum Upstream<'a> {
    /// Always this one (`$du`), as in README "Using Chorus behind a proxy".
    One(SocketAddr),
    /// The dispatcher module over these destinations (set 1), hashing over the Request-URI user, probing
    /// each with OPTIONS every `ping_interval` seconds.
    Dispatcher {
        /// The destinations, in list-file order.
        dests: &'a [Dest],
        /// `ds_ping_interval` in seconds.
        ping_interval: u32,
    },
}

/// One dispatcher destination.
#[derive(Clone, Copy, Debug)]
pub struct Dest {
    /// Its SIP address (UDP).
    pub addr: SocketAddr,
    /// The list file's flags column: 0 active, 1 inactive, 8 probing (see the dispatcher docs).
    pub flags: u32,
}

impl Dest {
    /// An active destination.
    pub fn active(addr: SocketAddr) -> Dest {
        Dest { addr, flags: 0 }
    }
}

/// A running Kamailio, stopped on drop; its log is printed when the test failed.
pub struct Kamailio {
    child: Option<Child>,
    /// Scratch directory: config, dispatcher list, pid file, ctl socket, log.
    pub dir: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    ctl: PathBuf,
}

/// The destination URI of a Chorus.
pub fn sip_uri(addr: SocketAddr) -> String {
    format!("sip:{addr}")
}

impl Kamailio {
    /// Starts Kamailio relaying to `upstream` and waits until it answers its readiness probe.
    pub fn start(upstream: Upstream) -> Kamailio {
        Kamailio::start_on(upstream, free_sip_port())
    }

    /// Like [`Kamailio::start`], listening on `port` (from [`free_sip_port`]): for a Chorus whose dialplan
    /// must name the proxy (a transfer target through it) and so is written before the proxy starts.
    pub fn start_on(upstream: Upstream, port: u16) -> Kamailio {
        let kamailio = program("kamailio");
        assert!(
            PathBuf::from(MODULES_DIR).join("dispatcher.so").is_file(),
            "kamailio modules are missing from {MODULES_DIR} (Debian package kamailio)"
        );
        let dir = scratch_dir("kamailio");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let ctl = dir.join("kamailio_ctl");
        let ds_list = dir.join("dispatcher.list");
        let template = repo_root().join("tests/kamailio/proxy.cfg");
        let mut cfg = std::fs::read_to_string(&template)
            .unwrap_or_else(|e| panic!("read {}: {e}", template.display()));
        let mut defines = String::new();
        let (chorus_uri, ping_interval) = match &upstream {
            Upstream::One(chorus) => (sip_uri(*chorus), 0),
            Upstream::Dispatcher {
                dests,
                ping_interval,
            } => {
                defines.push_str("#!define WITH_DISPATCHER\n");
                let mut list = String::from("# set destination flags priority attrs\n");
                for (i, d) in dests.iter().enumerate() {
                    list.push_str(&format!(
                        "1 {} {} 0 duid=chorus{i}\n",
                        sip_uri(d.addr),
                        d.flags
                    ));
                }
                std::fs::write(&ds_list, list).unwrap();
                (String::new(), *ping_interval)
            }
        };
        for (key, value) in [
            ("PORT", port.to_string()),
            ("MPATH", MODULES_DIR.to_string()),
            ("CTL_SOCKET", ctl.display().to_string()),
            ("DS_LIST", ds_list.display().to_string()),
            ("PING_INTERVAL", ping_interval.to_string()),
            ("CHORUS_URI", chorus_uri),
        ] {
            cfg = cfg.replace(&format!("@{key}@"), &value);
        }
        let leftover: Vec<&str> = cfg
            .split('@')
            .skip(1)
            .step_by(2)
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        assert!(
            leftover.is_empty(),
            "unreplaced placeholders in {}: {leftover:?}",
            template.display()
        );
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, format!("{defines}{cfg}")).unwrap();
        let log = dir.join("kamailio.log");
        let mut cmd = Command::new(kamailio);
        cmd.arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-a", "no", "-m", "32", "-M", "4"])
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(&dir)
            .arg("-w")
            .arg(&dir)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("kamailio.stdout")).unwrap())
            .stderr(File::create(&log).unwrap())
            // Its own process group: the main process and the workers it forks are stopped together.
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start kamailio: {e}"));
        let mut k = Kamailio {
            child: Some(child),
            dir,
            addr,
            log,
            ctl,
        };
        k.wait_ready(Duration::from_secs(10));
        k
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let mut n = 0;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "kamailio exited during startup with {status}; log:\n{}",
                    self.log_text()
                );
            }
            n += 1;
            let msg = format!(
                "OPTIONS sip:kamailio-ready@{addr} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK-kready-{n}-{pid}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:tester@{local}>;tag=kr{n}\r\n\
                 To: <sip:kamailio-ready@{addr}>\r\n\
                 Call-ID: kready-{n}-{pid}@127.0.0.1\r\n\
                 CSeq: 1 OPTIONS\r\n\
                 Content-Length: 0\r\n\r\n",
                addr = self.addr,
                pid = std::process::id()
            );
            let _ = sock.send_to(msg.as_bytes(), self.addr);
            if let Some((m, _)) = sip::recv(&sock, Duration::from_millis(200)) {
                if m.status() == Some(200) {
                    return;
                }
            }
        }
        panic!(
            "kamailio did not answer on {} within {timeout:?}; log:\n{}",
            self.addr,
            self.log_text()
        );
    }

    /// Its SIP address (UDP): where the callers send.
    pub fn sip_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines the config logs for the tests (after the "CHORUS-TEST " marker), in order.
    pub fn test_lines(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|l| l.find("CHORUS-TEST ").map(|i| l[i + 12..].to_string()))
            .collect()
    }

    /// The test lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.test_lines()
            .into_iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .collect()
    }

    /// Waits up to `timeout` for a test line containing every one of `needles`; whether one came.
    pub fn wait_line(&self, needles: &[&str], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.lines_with(needles).is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `kamcmd` against this instance's ctl socket and returns what it printed.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        let out = Command::new(program("kamcmd"))
            .arg("-s")
            .arg(format!("unix:{}", self.ctl.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run kamcmd: {e}"));
        assert!(
            out.status.success(),
            "kamcmd {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The dispatcher's state flags for `dest` as `kamcmd dispatcher.list` shows them ("AP": active and
    /// probing, "IP": inactive and probing, "TP": trying...); `None` when it is not listed.
    pub fn dispatcher_flags(&self, dest: SocketAddr) -> Option<String> {
        let list = self.kamcmd(&["dispatcher.list"]);
        let uri = sip_uri(dest);
        let mut lines = list.lines();
        while let Some(line) = lines.next() {
            if line.trim() == format!("URI: {uri}") {
                for l in lines.by_ref() {
                    if let Some(f) = l.trim().strip_prefix("FLAGS: ") {
                        return Some(f.trim().to_string());
                    }
                }
            }
        }
        None
    }

    /// Waits up to `timeout` until the dispatcher shows `dest` with these flags; the last flags seen.
    pub fn wait_dispatcher_flags(
        &self,
        dest: SocketAddr,
        want: &str,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let flags = self.dispatcher_flags(dest);
            if flags.as_deref() == Some(want) || Instant::now() >= deadline {
                return flags;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (workers, a main process stuck in shutdown).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- kamailio log ({}) ----\n{}\n---- end; files kept in {} ----",
                self.log.display(),
                self.log_text(),
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Calls `users` through `target` with SIPp (`tests/kamailio/uac_call_user.xml`), one call per user in
/// this order, each held for `hold` before the caller's BYE; all of them may be up at once.
pub fn call_users(
    target: SocketAddr,
    users: &[&str],
    hold: Duration,
    timeout: Duration,
) -> SippRun {
    let dir = scratch_dir("users");
    let csv = dir.join("users.csv");
    let mut text = String::from("SEQUENTIAL\n");
    for u in users {
        text.push_str(&format!("{u};\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let csv = csv.display().to_string();
    let hold_ms = hold.as_millis().to_string();
    let run = sipp(
        "../kamailio/uac_call_user.xml",
        target,
        "users",
        Transport::Udp,
        users.len() as u32,
        &["-inf", &csv, "-d", &hold_ms],
        timeout,
    );
    if run.status == Some(0) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    run
}

/// The Request-URI users of the call-log lines (from their `to`, `sip:USER@...`), in order.
pub fn users_of(log: &[serde_json::Value]) -> Vec<String> {
    log.iter()
        .map(|l| {
            let to = l["to"].as_str().unwrap_or_default();
            let to = to.trim_start_matches('<');
            let to = to.strip_prefix("sip:").unwrap_or(to);
            to.split('@').next().unwrap_or_default().to_string()
        })
        .collect()
}
