//! The transport edge on real loopback sockets: UDP and TCP round trips, TCP framing across writes,
//! replies on the inbound connection, outbound connects, keepalive pongs, and closing on framing errors.

use std::net::SocketAddr;
use std::time::Duration;

use chorus_sip::message::Transport;
use chorus_sip::peer::{Peer, Transmit};
use chorus_sip::transport::SipTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn options(branch: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:chorus@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:chorus@127.0.0.1>\r\n\
Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody"
    )
    .into_bytes()
}

async fn bind() -> SipTransport {
    SipTransport::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn recv(t: &mut SipTransport) -> (Peer, Vec<u8>) {
    timeout(WAIT, t.recv())
        .await
        .expect("message in time")
        .expect("transport open")
}

/// Reads until `n` bytes arrived.
async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    buf
}

#[tokio::test]
async fn binds_udp_and_tcp_on_one_port() {
    let t = bind().await;
    let addr = t.local_addr();
    assert_ne!(addr.port(), 0);
    TcpStream::connect(addr)
        .await
        .expect("tcp listens on the udp port");
}

#[tokio::test]
async fn udp_round_trip() {
    let mut t = bind().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&options("u1"), t.local_addr())
        .await
        .unwrap();
    let (peer, data) = recv(&mut t).await;
    assert_eq!(peer, Peer::udp(client.local_addr().unwrap()));
    assert_eq!(data, options("u1"));
    t.send(Transmit {
        peer,
        data: b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
    });
    let mut buf = [0; 100];
    let (n, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"SIP/2.0 200 OK\r\n\r\n");
    assert_eq!(from, t.local_addr());
}

#[tokio::test]
async fn udp_keepalives_are_not_delivered() {
    let mut t = bind().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\r\n\r\n", t.local_addr()).await.unwrap();
    client
        .send_to(&options("u2"), t.local_addr())
        .await
        .unwrap();
    let (_, data) = recv(&mut t).await;
    assert_eq!(data, options("u2"));
}

#[tokio::test]
async fn tcp_split_and_coalesced_messages_then_reply_on_same_conn() {
    let mut t = bind().await;
    let mut client = TcpStream::connect(t.local_addr()).await.unwrap();
    client.set_nodelay(true).unwrap();
    let first = options("t1");
    // One message split across three writes.
    for part in [
        &first[..10],
        &first[10..first.len() - 2],
        &first[first.len() - 2..],
    ] {
        client.write_all(part).await.unwrap();
        client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (peer, data) = recv(&mut t).await;
    assert_eq!(data, first);
    assert_eq!(peer.transport, Transport::Tcp);
    assert_eq!(peer.addr, client.local_addr().unwrap());
    let conn = peer.conn.expect("tcp messages carry their connection");
    assert_eq!(t.conn_addr(conn), Some(peer.addr));

    // Two messages in one write.
    let mut two = options("t2");
    two.extend_from_slice(&options("t3"));
    client.write_all(&two).await.unwrap();
    let (p2, d2) = recv(&mut t).await;
    let (p3, d3) = recv(&mut t).await;
    assert_eq!((d2, d3), (options("t2"), options("t3")));
    assert_eq!(p2.conn, Some(conn));
    assert_eq!(p3.conn, Some(conn));

    // The reply goes back on the same connection.
    let reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    t.send(Transmit {
        peer,
        data: reply.clone(),
    });
    assert_eq!(read_n(&mut client, reply.len()).await, reply);
    // Addressed by address only (conn None), it still uses the open connection.
    t.send(Transmit {
        peer: Peer { conn: None, ..peer },
        data: reply.clone(),
    });
    assert_eq!(read_n(&mut client, reply.len()).await, reply);
    assert_eq!(t.stats().tcp_open, 1);
}

#[tokio::test]
async fn tcp_ping_gets_a_pong() {
    let mut t = bind().await;
    let mut client = TcpStream::connect(t.local_addr()).await.unwrap();
    client.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_n(&mut client, 2).await, b"\r\n");
    client.write_all(&options("p1")).await.unwrap();
    assert_eq!(recv(&mut t).await.1, options("p1"));
}

#[tokio::test]
async fn tcp_framing_error_closes_the_connection() {
    let mut t = bind().await;
    let mut client = TcpStream::connect(t.local_addr()).await.unwrap();
    client
        .write_all(b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, client.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "connection closed");
    // The transport still works.
    client = TcpStream::connect(t.local_addr()).await.unwrap();
    client.write_all(&options("after")).await.unwrap();
    assert_eq!(recv(&mut t).await.1, options("after"));
}

#[tokio::test]
async fn outbound_connect_and_reply_on_it() {
    let mut t = bind().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let remote: SocketAddr = listener.local_addr().unwrap();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: remote,
        conn: None,
    };
    // Two sends before the connection is up share one connection, in order.
    t.send(Transmit {
        peer,
        data: options("o1"),
    });
    t.send(Transmit {
        peer,
        data: options("o2"),
    });
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut expected = options("o1");
    expected.extend_from_slice(&options("o2"));
    assert_eq!(read_n(&mut s, expected.len()).await, expected);

    // What the remote sends back arrives tagged with the outbound connection.
    s.write_all(&options("o3")).await.unwrap();
    let (from, data) = recv(&mut t).await;
    assert_eq!(data, options("o3"));
    assert_eq!(from.addr, remote);
    assert!(from.conn.is_some());
    t.send(Transmit {
        peer: from,
        data: options("o4"),
    });
    assert_eq!(read_n(&mut s, options("o4").len()).await, options("o4"));
}

#[tokio::test]
async fn closed_connection_is_reopened_for_a_reply() {
    let t = bind().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: listener.local_addr().unwrap(),
        conn: None,
    };
    t.send(Transmit {
        peer,
        data: options("c1"),
    });
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    read_n(&mut s, options("c1").len()).await;
    drop(s);
    // Wait until the edge has noticed the close.
    timeout(WAIT, async {
        while t.stats().tcp_open > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("close noticed");
    t.send(Transmit {
        peer,
        data: options("c2"),
    });
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    assert_eq!(read_n(&mut s, options("c2").len()).await, options("c2"));
}

#[tokio::test]
async fn send_to_unreachable_tcp_peer_does_not_panic_or_block() {
    let t = bind().await;
    // A port with nothing listening: the connect fails in the background.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let peer = Peer {
        transport: Transport::Tcp,
        addr,
        conn: None,
    };
    t.send(Transmit {
        peer,
        data: options("x"),
    });
    timeout(WAIT, async {
        while t.stats().tcp_send_dropped == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("failure counted");
    assert_eq!(t.stats().tcp_open, 0);
}

#[tokio::test]
async fn recv_is_cancel_safe_in_select() {
    let mut t = bind().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Many select rounds that time out before anything arrives, then a message: it is not lost.
    for _ in 0..20 {
        tokio::select! {
            _ = t.recv() => panic!("nothing sent yet"),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    client
        .send_to(&options("s1"), t.local_addr())
        .await
        .unwrap();
    let mut tcp = TcpStream::connect(t.local_addr()).await.unwrap();
    tcp.write_all(&options("s2")).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        tokio::select! {
            m = t.recv() => got.push(m.unwrap().1),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    got.sort();
    assert_eq!(got, vec![options("s1"), options("s2")]);
}

#[tokio::test]
async fn peer_that_does_not_read_loses_its_connection() {
    let mut t = bind().await;
    let mut client = TcpStream::connect(t.local_addr()).await.unwrap();
    client.write_all(&options("r1")).await.unwrap();
    let (peer, _) = recv(&mut t).await;
    // Never read: socket buffers fill, then the 64-message queue, then the edge gives up.
    let big = vec![b'x'; 60 * 1024];
    for _ in 0..2000 {
        t.send(Transmit {
            peer,
            data: big.clone(),
        });
        if t.stats().tcp_send_dropped > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(t.stats().tcp_send_dropped > 0, "queue overflow noticed");
    assert_eq!(t.conn_addr(peer.conn.unwrap()), None, "connection dropped");
}
