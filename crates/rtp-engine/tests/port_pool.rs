//! The RTP port pool: even ports, returned on drop, round robin, busy ports skipped, exhaustion.
//! Each test uses its own range (below the Linux ephemeral range) so tests can run in parallel.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use chorus_rtp::ports::{PortAllocator, PortError};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn invalid_ranges_are_rejected() {
    assert!(matches!(
        PortAllocator::new(31010, 31000),
        Err(PortError::InvalidRange { .. })
    ));
    // An even port without its odd RTCP neighbour is not a usable pair.
    assert!(PortAllocator::new(31000, 31000).is_err());
    assert!(PortAllocator::new(31001, 31002).is_err());
    assert!(PortAllocator::new(65535, 65535).is_err());
    assert_eq!(
        PortAllocator::new(31000, 31001)
            .expect("one pair")
            .capacity(),
        1
    );
    assert_eq!(
        PortAllocator::new(31001, 31010)
            .expect("four pairs")
            .capacity(),
        4
    );
}

#[test]
fn allocations_are_distinct_even_ports_in_range() {
    let pool = PortAllocator::new(31021, 31040).expect("range");
    let sockets: Vec<_> = (0..9)
        .map(|_| pool.bind(LOCALHOST).expect("free port"))
        .collect();
    let ports: HashSet<u16> = sockets.iter().map(|s| s.port()).collect();
    assert_eq!(ports.len(), 9);
    for p in &ports {
        assert_eq!(p % 2, 0);
        assert!((31022..=31038).contains(p), "{p}");
    }
    assert_eq!(pool.in_use(), 9);
    for s in &sockets {
        assert_eq!(s.local_addr().expect("bound").port(), s.port());
    }
}

#[test]
fn dropping_a_socket_returns_its_port() {
    let pool = PortAllocator::new(31050, 31053).expect("range");
    let a = pool.bind(LOCALHOST).expect("first");
    let b = pool.bind(LOCALHOST).expect("second");
    assert!(matches!(
        pool.bind(LOCALHOST),
        Err(PortError::Exhausted { .. })
    ));
    let freed = a.port();
    drop(a);
    assert_eq!(pool.in_use(), 1);
    let c = pool.bind(LOCALHOST).expect("port came back");
    assert_eq!(c.port(), freed);
    drop((b, c));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn allocation_is_round_robin() {
    let pool = PortAllocator::new(31060, 31069).expect("range");
    let first = pool.bind(LOCALHOST).expect("first").port();
    // Dropped at once, yet the next allocation moves on (a late packet for the old call must not
    // reach the next one).
    let second = pool.bind(LOCALHOST).expect("second").port();
    assert_eq!(second, first + 2);
    let clone = pool.clone();
    assert_eq!(clone.bind(LOCALHOST).expect("third").port(), first + 4);
}

#[test]
fn exhaustion_is_an_error() {
    let pool = PortAllocator::new(31080, 31083).expect("range");
    let _a = pool.bind(LOCALHOST).expect("first");
    let _b = pool.bind(LOCALHOST).expect("second");
    let err = pool.bind(LOCALHOST).expect_err("range exhausted");
    assert!(matches!(
        err,
        PortError::Exhausted {
            lo: 31080,
            hi: 31083
        }
    ));
    assert_eq!(err.to_string(), "no free rtp port in 31080-31083");
}

#[test]
fn ports_held_by_others_are_skipped() {
    let pool = PortAllocator::new(31100, 31105).expect("range");
    let squatter = UdpSocket::bind((LOCALHOST, 31100)).expect("squat on the first port");
    let a = pool.bind(LOCALHOST).expect("skips the busy port");
    assert_eq!(a.port(), 31102);
    let b = pool.bind(LOCALHOST).expect("third pair");
    assert_eq!(b.port(), 31104);
    assert!(matches!(
        pool.bind(LOCALHOST),
        Err(PortError::Exhausted { .. })
    ));
    drop(squatter);
    assert_eq!(pool.bind(LOCALHOST).expect("free again").port(), 31100);
}

#[test]
fn non_local_address_is_a_bind_error() {
    let pool = PortAllocator::new(31120, 31129).expect("range");
    let err = pool
        .bind(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
        .expect_err("TEST-NET address is not ours");
    assert!(matches!(err, PortError::Bind { .. }), "{err}");
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pool_is_usable_from_many_threads() {
    let pool = PortAllocator::new(31140, 31179).expect("range");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| pool.bind(LOCALHOST).expect("free port"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sockets: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let ports: HashSet<u16> = sockets.iter().map(|s| s.port()).collect();
    assert_eq!(ports.len(), 20);
    drop(sockets);
    assert_eq!(pool.in_use(), 0);
}
