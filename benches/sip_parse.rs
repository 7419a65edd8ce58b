//! Parse throughput of chorus-sip's message parser on the three shapes a media server sees most:
//! an INVITE with an SDP offer, a 200 OK with an SDP answer, and a small OPTIONS keepalive.
//! Each is parsed and, for requests, validated, as the endpoint does on every datagram.
//!
//! `cargo bench --bench sip_parse`

use chorus_sip::Message;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, INFO, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: Chorus-Bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 253\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const OK_200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.101\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:chorus@192.0.2.4:5060>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n\
Server: Chorus/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 166\r\n\
\r\n\
v=0\r\n\
o=chorus 1 1 IN IP4 192.0.2.4\r\n\
s=-\r\n\
c=IN IP4 192.0.2.4\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=ptime:20\r\n";

const OPTIONS: &[u8] = b"OPTIONS sip:chorus@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKping1\r\n\
Max-Forwards: 70\r\n\
From: <sip:monitor@192.0.2.50>;tag=p1\r\n\
To: <sip:chorus@192.0.2.4>\r\n\
Call-ID: ping-1@192.0.2.50\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\
\r\n";

fn parse_and_check(data: &[u8]) -> bool {
    match Message::parse(data) {
        Ok(Message::Request(r)) => r.validate().is_ok(),
        Ok(Message::Response(r)) => r.cseq().is_ok(),
        Err(_) => false,
    }
}

fn sip_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_parse");
    for (name, msg) in [
        ("invite_sdp", INVITE),
        ("200_ok_sdp", OK_200),
        ("options", OPTIONS),
    ] {
        assert!(parse_and_check(msg), "{name} must parse");
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| parse_and_check(black_box(msg))));
    }
    group.finish();
}

criterion_group!(benches, sip_parse);
criterion_main!(benches);
