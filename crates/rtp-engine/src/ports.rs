//! The pool of RTP ports: one even port per call from a configured range, its odd neighbour kept free
//! for RTCP (RFC 3550 §11). This is shell code: it binds sockets and is shared between tasks.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a port could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The configured range holds no even port whose odd neighbour is also in range.
    #[error("rtp port range {lo}-{hi} holds no even/odd port pair")]
    InvalidRange {
        /// Lowest port of the range.
        lo: u16,
        /// Highest port of the range.
        hi: u16,
    },
    /// Every port pair of the range is in use, by us or by other processes.
    #[error("no free rtp port in {lo}-{hi}")]
    Exhausted {
        /// Lowest port of the range.
        lo: u16,
        /// Highest port of the range.
        hi: u16,
    },
    /// Binding failed for a reason other than the port being taken (the address is not local, ...).
    #[error("cannot bind rtp socket on {addr}: {source}")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

#[derive(Debug)]
struct Pool {
    /// First even port of the range.
    first: u16,
    /// Number of even/odd pairs.
    pairs: u16,
    /// Pair index to try first (round robin from where the last allocation ended).
    next: u16,
    /// RTP ports handed out and not yet returned.
    in_use: HashSet<u16>,
    lo: u16,
    hi: u16,
}

/// Hands out RTP ports from a range; cheap to clone, all clones share one pool.
#[derive(Clone, Debug)]
pub struct PortAllocator {
    pool: Arc<Mutex<Pool>>,
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // The pool's state stays consistent across every statement, so a panic elsewhere while holding the
    // lock leaves nothing half-done: recover the guard.
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PortAllocator {
    /// A pool over `lo..=hi`: RTP on the even ports, each with its odd neighbour reserved for RTCP.
    pub fn new(lo: u16, hi: u16) -> Result<PortAllocator, PortError> {
        let invalid = PortError::InvalidRange { lo, hi };
        // Port 0 means "any" to the OS and cannot be an RTP port.
        let first = if lo == 0 {
            2
        } else {
            u32::from(lo) + u32::from(lo & 1)
        };
        if lo > hi || first + 1 > u32::from(hi) {
            return Err(invalid);
        }
        // Both fit u16: first + 1 <= hi.
        let pairs = ((u32::from(hi) - 1 - first) / 2 + 1) as u16;
        let first = first as u16;
        Ok(PortAllocator {
            pool: Arc::new(Mutex::new(Pool {
                first,
                pairs,
                next: 0,
                in_use: HashSet::new(),
                lo,
                hi,
            })),
        })
    }

    /// RTP ports currently handed out.
    pub fn in_use(&self) -> usize {
        lock(&self.pool).in_use.len()
    }

    /// Number of RTP ports the range offers.
    pub fn capacity(&self) -> usize {
        usize::from(lock(&self.pool).pairs)
    }

    /// Binds a UDP socket on `ip` at the next free even port, trying each pair of the range at most
    /// once and skipping ports other processes hold. Sync and non-blocking: callable inside tokio.
    pub fn bind(&self, ip: IpAddr) -> Result<MediaSocket, PortError> {
        let mut pool = lock(&self.pool);
        for i in 0..pool.pairs {
            let index = (pool.next + i) % pool.pairs;
            let port = pool.first + 2 * index;
            if pool.in_use.contains(&port) {
                continue;
            }
            let addr = SocketAddr::new(ip, port);
            // RTP on the even port, RTCP on the odd one above it (RFC 3550 §11): both or neither.
            let pair = bind_nonblocking(addr).and_then(|rtp| {
                bind_nonblocking(SocketAddr::new(ip, port + 1)).map(|rtcp| (rtp, rtcp))
            });
            match pair {
                Ok((socket, rtcp)) => {
                    pool.in_use.insert(port);
                    pool.next = (index + 1) % pool.pairs;
                    return Ok(MediaSocket {
                        socket: Some(socket),
                        rtcp: Some(rtcp),
                        port,
                        pool: self.pool.clone(),
                    });
                }
                // Held by another process (or a socket of ours not yet closed): try the next pair.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    tracing::trace!(port, error = %e, "rtp port busy");
                }
                // Every port would fail the same way.
                Err(source) => return Err(PortError::Bind { addr, source }),
            }
        }
        Err(PortError::Exhausted {
            lo: pool.lo,
            hi: pool.hi,
        })
    }
}

/// A bound RTP socket and its RTCP socket one port above; dropping it returns the pair to the pool.
pub struct MediaSocket {
    /// Taken by the stream that converts it to a tokio socket.
    socket: Option<UdpSocket>,
    /// The RTCP socket on `port + 1`.
    rtcp: Option<UdpSocket>,
    port: u16,
    pool: Arc<Mutex<Pool>>,
}

fn bind_nonblocking(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl MediaSocket {
    /// The RTP port (the RTCP port is one above).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound address, while the socket has not been handed to a stream.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.socket {
            Some(s) => s.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket moved to its stream",
            )),
        }
    }

    /// Takes the std socket out; the port stays allocated until `self` is dropped.
    pub(crate) fn take_socket(&mut self) -> Option<UdpSocket> {
        self.socket.take()
    }

    /// Takes the std RTCP socket (port + 1) out; the pair stays allocated until `self` is dropped.
    #[allow(dead_code)] // used once RTCP is wired into the stream
    pub(crate) fn take_rtcp_socket(&mut self) -> Option<UdpSocket> {
        self.rtcp.take()
    }
}

impl fmt::Debug for MediaSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSocket")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for MediaSocket {
    fn drop(&mut self) {
        // Close the socket before the port becomes available again.
        self.socket.take();
        self.rtcp.take();
        lock(&self.pool).in_use.remove(&self.port);
    }
}
