//! The transport edge (RFC 3261 §18, RFC 5626 §3.5.1 keepalives): UDP and TCP sockets on one address, with
//! tokio tasks per TCP connection. The only part of chorus-sip that does IO.
//!
//! Shape: the caller owns a [`SipTransport`], awaits [`SipTransport::recv`] in its `select!` loop and hands
//! every [`Transmit`] to [`SipTransport::send`], which never blocks. Behind it:
//! - an accept task, admitting at most [`MAX_TCP_CONNECTIONS`] connections at a time;
//! - per connection a reader task (a [`StreamFramer`] with the 64 KiB cap; it closes the connection on a
//!   framing error or after [`IDLE_TIMEOUT`] without traffic either way, and answers RFC 5626 pings with a
//!   CRLF pong) and a writer task fed by a bounded queue: a peer that does not read fills the queue and
//!   loses its connection rather than stalling the caller;
//! - outbound connections opened on demand when a TCP message has no connection to use (RFC 3261
//!   §18.2.2), registered at once so that messages sent while it connects queue behind each other.
//!
//! Inbound TCP messages carry `Peer { conn: Some(id), .. }`; replying with that peer uses the same
//! connection. UDP datagrams over 64 KiB and CRLF-only datagrams (keepalives) are dropped at the edge.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{timeout, Instant};

use crate::framing::StreamFramer;
use crate::message::{Transport, MAX_MESSAGE_SIZE};
use crate::peer::{ConnId, Peer, Transmit};

/// Most TCP connections open at once (inbound and outbound together); further ones are refused.
pub const MAX_TCP_CONNECTIONS: usize = 4096;
/// A TCP connection with no traffic in either direction for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Messages queued per TCP connection; a full queue means the peer is not reading and the connection is
/// dropped.
pub const CONN_QUEUE: usize = 64;
/// Time allowed to open an outbound TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one message to be written to a TCP connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound TCP messages buffered for [`SipTransport::recv`]; when full, readers stop reading (TCP
/// back-pressure) instead of growing memory.
const INBOUND_QUEUE: usize = 1024;

/// Counters of what the edge dropped, for logs and the admin API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// UDP messages not sent because the socket would block or failed (SIP retransmits them).
    pub udp_send_dropped: u64,
    /// UDP datagrams received and dropped: over 64 KiB.
    pub udp_recv_dropped: u64,
    /// TCP messages not sent: queue full, connection limit reached, or connection failed.
    pub tcp_send_dropped: u64,
    /// TCP connections refused at accept because of [`MAX_TCP_CONNECTIONS`].
    pub tcp_refused: u64,
    /// TCP connections open now.
    pub tcp_open: u64,
}

/// UDP and TCP SIP transport on one local address. See the module documentation.
#[derive(Debug)]
pub struct SipTransport {
    shared: Arc<Shared>,
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    inbound: mpsc::Receiver<(Peer, Vec<u8>)>,
    udp_buf: Vec<u8>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    conns: Mutex<ConnTable>,
    inbound: mpsc::Sender<(Peer, Vec<u8>)>,
    next_id: AtomicU64,
    limit: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
    udp_send_dropped: AtomicU64,
    udp_recv_dropped: AtomicU64,
    tcp_send_dropped: AtomicU64,
    tcp_refused: AtomicU64,
}

#[derive(Debug, Default)]
struct ConnTable {
    by_id: HashMap<ConnId, Conn>,
    by_addr: HashMap<SocketAddr, ConnId>,
}

#[derive(Debug)]
struct Conn {
    addr: SocketAddr,
    tx: mpsc::Sender<Vec<u8>>,
    tasks: Vec<AbortHandle>,
}

/// Milliseconds since a connection started at which it last carried traffic, shared by its two tasks.
#[derive(Debug)]
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_deadline(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + IDLE_TIMEOUT
    }
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, ConnTable> {
        // A poisoned lock only means another task panicked mid-update of plain maps; the maps stay usable.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Forgets a connection and stops its tasks. `graceful` lets the writer drain what is queued.
    fn remove(&self, id: ConnId, graceful: bool) {
        let conn = {
            let mut t = self.table();
            let conn = t.by_id.remove(&id);
            if let Some(c) = &conn {
                if t.by_addr.get(&c.addr) == Some(&id) {
                    t.by_addr.remove(&c.addr);
                }
            }
            conn
        };
        if let Some(c) = conn {
            if !graceful {
                for task in &c.tasks {
                    task.abort();
                }
            }
            tracing::debug!(conn = id.0, addr = %c.addr, graceful, "sip tcp connection closed");
        }
    }

    /// Registers a connection's queue; the tasks are added once spawned.
    fn register(&self, id: ConnId, addr: SocketAddr, tx: mpsc::Sender<Vec<u8>>) {
        let mut t = self.table();
        t.by_id.insert(
            id,
            Conn {
                addr,
                tx,
                tasks: Vec::new(),
            },
        );
        t.by_addr.insert(addr, id);
    }

    fn add_tasks(&self, id: ConnId, tasks: &[AbortHandle]) {
        let mut t = self.table();
        match t.by_id.get_mut(&id) {
            Some(c) => c.tasks.extend_from_slice(tasks),
            // Closed before its tasks were recorded: stop them now.
            None => tasks.iter().for_each(AbortHandle::abort),
        }
    }

    /// Starts the reader and writer of an established connection.
    fn start_conn(
        self: &Arc<Self>,
        id: ConnId,
        stream: TcpStream,
        rx: mpsc::Receiver<Vec<u8>>,
        permit: OwnedSemaphorePermit,
    ) {
        let _ = stream.set_nodelay(true);
        let addr = match stream.peer_addr() {
            Ok(a) => a,
            Err(_) => {
                self.remove(id, false);
                return;
            }
        };
        let (r, w) = stream.into_split();
        let activity = Arc::new(Activity::new());
        let permit = Arc::new(permit);
        let writer = self.runtime.spawn(write_loop(
            Arc::clone(self),
            id,
            w,
            rx,
            Arc::clone(&activity),
            Arc::clone(&permit),
        ));
        let reader = self.runtime.spawn(read_loop(
            Arc::clone(self),
            id,
            addr,
            r,
            activity,
            permit,
            writer.abort_handle(),
        ));
        self.add_tasks(id, &[reader.abort_handle(), writer.abort_handle()]);
    }
}

impl SipTransport {
    /// Binds UDP and TCP on the same address (port 0 allowed: TCP takes the port UDP got) and starts the
    /// TCP accept task. Must be called inside a tokio runtime.
    pub async fn bind(addr: SocketAddr) -> io::Result<SipTransport> {
        let (udp, listener) = bind_pair(addr).await?;
        let local = udp.local_addr()?;
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
        let shared = Arc::new(Shared {
            conns: Mutex::new(ConnTable::default()),
            inbound: tx,
            next_id: AtomicU64::new(1),
            limit: Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS)),
            runtime: tokio::runtime::Handle::current(),
            udp_send_dropped: AtomicU64::new(0),
            udp_recv_dropped: AtomicU64::new(0),
            tcp_send_dropped: AtomicU64::new(0),
            tcp_refused: AtomicU64::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(Arc::clone(&shared), listener));
        tracing::info!(%local, "sip transport listening on udp and tcp");
        Ok(SipTransport {
            shared,
            udp: Arc::new(udp),
            local,
            inbound: rx,
            udp_buf: vec![0; MAX_MESSAGE_SIZE + 1],
            accept_task,
        })
    }

    /// The bound address (UDP and TCP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next inbound message: a UDP datagram or a framed TCP message, with its [`Peer`] (TCP: `conn`
    /// is `Some`). Cancel-safe: usable as a `tokio::select!` branch without losing messages. Returns `None`
    /// only when the UDP socket fails with an error that is not transient.
    pub async fn recv(&mut self) -> Option<(Peer, Vec<u8>)> {
        loop {
            tokio::select! {
                r = self.udp.recv_from(&mut self.udp_buf) => match r {
                    Ok((n, from)) => {
                        if n > MAX_MESSAGE_SIZE {
                            self.shared.udp_recv_dropped.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%from, "sip udp datagram over 64 KiB dropped");
                            continue;
                        }
                        let data = &self.udp_buf[..n];
                        if data.iter().all(|&b| b == b'\r' || b == b'\n') {
                            continue; // keepalive
                        }
                        return Some((Peer::udp(from), data.to_vec()));
                    }
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(error = %e, "sip udp receive error ignored");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "sip udp socket failed");
                        return None;
                    }
                },
                Some(m) = self.inbound.recv() => return Some(m),
            }
        }
    }

    /// Queues a message without blocking and without failing loudly: UDP is `send_to` now or dropped
    /// (counted; SIP retransmits); TCP goes to `peer.conn`, else to an open connection to `peer.addr`, else
    /// to a new outbound connection. A TCP peer that does not read loses its connection.
    pub fn send(&self, t: Transmit) {
        match t.peer.transport {
            Transport::Udp => match self.udp.try_send_to(&t.data, t.peer.addr) {
                Ok(_) => {}
                Err(e) => {
                    self.shared.udp_send_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, to = %t.peer.addr, "sip udp send dropped");
                }
            },
            Transport::Tcp => self.send_tcp(t),
            other => {
                self.shared.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    transport = other.as_str(),
                    "sip transport not supported, dropped"
                );
            }
        }
    }

    fn send_tcp(&self, t: Transmit) {
        let shared = &self.shared;
        let target = {
            let table = shared.table();
            let by_conn = t
                .peer
                .conn
                .and_then(|id| table.by_id.get(&id).map(|c| (id, c.tx.clone())));
            by_conn.or_else(|| {
                let id = *table.by_addr.get(&t.peer.addr)?;
                table.by_id.get(&id).map(|c| (id, c.tx.clone()))
            })
        };
        let data = match target {
            Some((id, tx)) => match tx.try_send(t.data) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    shared.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(conn = id.0, "sip tcp peer not reading, connection dropped");
                    shared.remove(id, false);
                    return;
                }
                // The connection is closing: open a new one (RFC 3261 §18.2.2).
                Err(mpsc::error::TrySendError::Closed(data)) => {
                    shared.remove(id, false);
                    data
                }
            },
            None => t.data,
        };
        self.connect(t.peer.addr, data);
    }

    /// Registers an outbound connection with `first` queued, and connects in the background.
    fn connect(&self, addr: SocketAddr, first: Vec<u8>) {
        let shared = &self.shared;
        let Ok(permit) = Arc::clone(&shared.limit).try_acquire_owned() else {
            shared.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%addr, "sip tcp connection limit reached, message dropped");
            return;
        };
        let id = shared.next_conn_id();
        let (tx, rx) = mpsc::channel(CONN_QUEUE);
        // A fresh queue has room for one message.
        let _ = tx.try_send(first);
        shared.register(id, addr, tx);
        let task_shared = Arc::clone(shared);
        let task = shared.runtime.spawn(async move {
            let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "sip tcp connect failed");
                    task_shared.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
                    task_shared.remove(id, false);
                    return;
                }
                Err(_) => {
                    tracing::debug!(%addr, "sip tcp connect timed out");
                    task_shared.tcp_send_dropped.fetch_add(1, Ordering::Relaxed);
                    task_shared.remove(id, false);
                    return;
                }
            };
            tracing::debug!(conn = id.0, %addr, "sip tcp connection opened");
            task_shared.start_conn(id, stream, rx, permit);
        });
        shared.add_tasks(id, &[task.abort_handle()]);
    }

    /// What the edge dropped so far, and the open TCP connections.
    pub fn stats(&self) -> TransportStats {
        let s = &self.shared;
        TransportStats {
            udp_send_dropped: s.udp_send_dropped.load(Ordering::Relaxed),
            udp_recv_dropped: s.udp_recv_dropped.load(Ordering::Relaxed),
            tcp_send_dropped: s.tcp_send_dropped.load(Ordering::Relaxed),
            tcp_refused: s.tcp_refused.load(Ordering::Relaxed),
            tcp_open: s.table().by_id.len() as u64,
        }
    }

    /// The remote address of an open TCP connection.
    pub fn conn_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.shared.table().by_id.get(&id).map(|c| c.addr)
    }
}

impl Drop for SipTransport {
    fn drop(&mut self) {
        self.accept_task.abort();
        let conns: Vec<Conn> = self.shared.table().by_id.drain().map(|(_, c)| c).collect();
        for c in conns {
            c.tasks.iter().for_each(AbortHandle::abort);
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// Binds UDP then TCP on its port. With port 0, retries when the port UDP got is taken for TCP.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        let socket = if local.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(local).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok((udp, listener)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port pair")))
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "sip tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&shared.limit).try_acquire_owned() else {
            shared.tcp_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%addr, "sip tcp connection limit reached, connection refused");
            continue;
        };
        let id = shared.next_conn_id();
        let (tx, rx) = mpsc::channel(CONN_QUEUE);
        shared.register(id, addr, tx);
        tracing::debug!(conn = id.0, %addr, "sip tcp connection accepted");
        shared.start_conn(id, stream, rx, permit);
    }
}

async fn read_loop(
    shared: Arc<Shared>,
    id: ConnId,
    addr: SocketAddr,
    mut r: OwnedReadHalf,
    activity: Arc<Activity>,
    _permit: Arc<OwnedSemaphorePermit>,
    writer: AbortHandle,
) {
    let peer = Peer {
        transport: Transport::Tcp,
        addr,
        conn: Some(id),
    };
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16 * 1024];
    let graceful = loop {
        let read = tokio::time::timeout_at(activity.idle_deadline(), r.read(&mut buf)).await;
        let n = match read {
            Err(_) if Instant::now() < activity.idle_deadline() => continue, // the writer was busy
            Err(_) => {
                tracing::debug!(conn = id.0, "sip tcp connection idle, closing");
                break false;
            }
            Ok(Ok(0)) => break true,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(conn = id.0, error = %e, "sip tcp read failed");
                break false;
            }
        };
        activity.touch();
        framer.push(&buf[..n]);
        let mut failed = false;
        loop {
            match framer.next_message() {
                Ok(Some(msg)) => {
                    if shared.inbound.send((peer, msg)).await.is_err() {
                        return; // the transport is gone
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(conn = id.0, %addr, error = %e, "sip tcp framing error, closing");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break false;
        }
        if framer.take_ping() {
            let tx = shared.table().by_id.get(&id).map(|c| c.tx.clone());
            if let Some(tx) = tx {
                let _ = tx.try_send(b"\r\n".to_vec());
            }
        }
    };
    shared.remove(id, graceful);
    if !graceful {
        writer.abort();
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    id: ConnId,
    mut w: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
    activity: Arc<Activity>,
    _permit: Arc<OwnedSemaphorePermit>,
) {
    while let Some(data) = rx.recv().await {
        match timeout(WRITE_TIMEOUT, w.write_all(&data)).await {
            Ok(Ok(())) => activity.touch(),
            Ok(Err(e)) => {
                tracing::debug!(conn = id.0, error = %e, "sip tcp write failed");
                shared.remove(id, false);
                return;
            }
            Err(_) => {
                tracing::warn!(conn = id.0, "sip tcp write timed out, closing");
                shared.remove(id, false);
                return;
            }
        }
    }
    // Every sender is gone: the connection was removed gracefully after the peer closed its side.
    let _ = w.shutdown().await;
}
