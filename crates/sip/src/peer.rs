//! Where a message came from and where it goes: the only vocabulary shared by the sans-IO endpoint and the
//! transport edge.

use std::net::SocketAddr;

use crate::message::Transport;

/// Identifies one stream connection (TCP) of the transport edge, assigned by the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The far end of a message: its transport, its address and, for streams, the connection it came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
    pub transport: Transport,
    /// The remote socket address.
    pub addr: SocketAddr,
    /// The connection for stream transports; `None` asks the edge to use or open one to `addr`.
    pub conn: Option<ConnId>,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr,
            conn: None,
        }
    }
}

/// A serialized message for the edge to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub peer: Peer,
    /// The bytes of one whole SIP message.
    pub data: Vec<u8>,
}
