//! The RFC 4475 torture messages against the parser: every valid message (§3.1.1) parses and validates
//! with the meaning the RFC gives it; every invalid one (§3.1.2) is refused with a 400-style reason, or,
//! where chorus does not read the broken field, the test says so and what the RFC expects instead.
//! §3.2–3.4 messages are checked for what the parser layer owes them.
//!
//! Fixtures are the RFC's bit-exact messages (CRLF, NUL and non-UTF-8 bytes included).

use chorus_sip::message::RequestInfo;
use chorus_sip::{Message, NameAddr, ParseError, Request, Response, Transport, Via};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/rfc4475/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(name: &str) -> Request {
    match Message::parse(&fixture(name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

fn response(name: &str) -> Response {
    match Message::parse(&fixture(name)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{name}: expected a response, got {other:?}"),
    }
}

fn valid_request(name: &str) -> (Request, RequestInfo) {
    let req = request(name);
    let info = req
        .validate()
        .unwrap_or_else(|e| panic!("{name}: validate failed: {e}"));
    (req, info)
}

/// The message is refused by the parser or by request validation, with a reason fit for a 400.
fn refused(name: &str) -> ParseError {
    let err = match Message::parse(&fixture(name)) {
        Err(e) => e,
        Ok(Message::Request(r)) => match r.validate() {
            Err(e) => e,
            Ok(_) => panic!("{name}: accepted, but RFC 4475 calls it invalid"),
        },
        Ok(Message::Response(_)) => panic!("{name}: parsed as a response"),
    };
    assert!(
        err.reason().starts_with("Bad Request ("),
        "{name}: {}",
        err.reason()
    );
    err
}

// ---- §3.1.1 valid messages ----

#[test]
fn wsinv_short_tortuous_invite() {
    let (req, info) = valid_request("wsinv");
    assert_eq!(req.uri.user(), Some("vivekg"));
    assert_eq!(req.uri.param("unknownparam"), Some(None));
    // Folded, LWS around colons and `=`, compact forms, mixed case names.
    assert_eq!(info.to.uri.host(), "chair-dnrc.example.com");
    assert_eq!(info.to.tag(), Some("1918181833n"));
    assert_eq!(info.from.tag(), Some("98asjd8"));
    assert_eq!(info.from.uri.as_str(), "sip:jdrosen@example.com");
    // Quoted-pairs are kept as written, so the value re-serializes unchanged.
    assert_eq!(info.from.display.as_deref(), Some(r#"J Rosenberg \\\""#));
    assert_eq!(info.call_id, "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(info.cseq.seq, 9);
    assert_eq!(req.headers.get("Max-Forwards"), Some("0068"));
    assert_eq!(req.headers.get("Subject"), Some(""));
    assert_eq!(
        req.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        req.headers.get("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let vias = req.headers.get_all("Via");
    assert_eq!(vias.len(), 3);
    assert_eq!(info.via.host, "192.0.2.2");
    assert_eq!(info.via.branch(), Some("390skdjuw"));
    let second = Via::parse(vias[1]).unwrap();
    assert_eq!(
        (second.transport, second.host.as_str(), second.branch()),
        (Transport::Tcp, "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    let third = Via::parse(vias[2]).unwrap();
    assert_eq!(third.host, "192.168.255.111");
    assert_eq!(third.branch(), Some("z9hG4bK30239"));
    let contact = NameAddr::parse(req.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.params.get("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.params.get("secondparam"), Some(None));
    assert_eq!(contact.params.get("q"), Some(Some("0.33")));
    assert_eq!(req.body.len(), 150);
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let (req, info) = valid_request("intmeth");
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(req.method.as_str(), method);
    assert_eq!(info.cseq.method.as_str(), method);
    assert_eq!(req.uri.host(), "example.com");
    assert_eq!(
        req.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(info.via.branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        info.to.display.as_deref(),
        Some("BEL:\\\u{7} NUL:\\\0 DEL:\\\u{7f}")
    );
    assert_eq!(
        info.from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(info.from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        info.from.params.get("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(info.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(
        req.headers.get("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
}

#[test]
fn esc01_escaped_uris() {
    let (req, info) = valid_request("esc01");
    // The escaped `:` and `@` are user characters, not a sips: URI or a second `@`.
    assert_eq!(req.uri.user(), Some("sips:user@example.com"));
    assert_eq!(req.uri.host(), "example.net");
    assert_eq!(info.to.uri.user(), Some("user"));
    assert_eq!(info.from.uri.user(), Some("I have spaces"));
    assert_eq!(info.call_id, "esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(req.headers.get("Content-Type"), Some("application/sdp"));
    let contact = NameAddr::parse(req.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.uri.user(), Some("caller"));
}

#[test]
fn escnull_escaped_nulls_in_uris() {
    let (req, info) = valid_request("escnull");
    assert_eq!(info.to.uri.user(), Some("null-\0-null"));
    let contacts = req.headers.get_all("Contact");
    assert_eq!(contacts.len(), 2);
    let second = NameAddr::parse(contacts[1]).unwrap();
    assert_eq!(second.uri.user(), Some("\0\0"));
}

#[test]
fn esc02_percent_is_not_an_escape_in_method_or_header_names() {
    let (req, info) = valid_request("esc02");
    // RE%47IST%45R is an unknown method, not REGISTER.
    assert_eq!(req.method.as_str(), "RE%47IST%45R");
    assert_eq!(info.cseq.method, req.method);
    assert_eq!(info.to.display.as_deref(), Some("%Z%45"));
    assert_eq!(info.via.branch(), Some("z9hG4bK209%fzsnel234"));
    // C%6Fntact is an extension header, not a third Contact.
    assert_eq!(req.headers.get_all("Contact").len(), 2);
    assert_eq!(
        req.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn lwsdisp_no_lws_between_display_name_and_laquot() {
    let (_, info) = valid_request("lwsdisp");
    assert_eq!(info.from.display.as_deref(), Some("caller"));
    assert_eq!(info.from.tag(), Some("323"));
}

#[test]
fn longreq_long_values_in_header_fields() {
    let (req, info) = valid_request("longreq");
    assert_eq!(req.headers.len(), 43);
    let vias = req.headers.get_all("Via");
    assert_eq!(vias.len(), 34);
    assert_eq!(info.via.host, "sip33.example.com");
    let last = Via::parse(vias[33]).unwrap();
    assert_eq!(last.params.get("received"), Some(Some("192.0.2.5")));
    assert_eq!(last.branch().map(str::len), Some(4 + 50 * 4 + 11));
    assert_eq!(info.to.uri.port(), Some(6000));
    assert_eq!(info.from.tag().map(str::len), Some(155));
    assert!(info.call_id.ends_with("reallylongcallid"));
    assert_eq!(req.body.len(), 150);
}

#[test]
fn dblreq_extra_trailing_octets_in_a_udp_datagram() {
    // Content-Length: 0, so the INVITE after the REGISTER is not part of it (RFC 3261 §18.3).
    let (req, info) = valid_request("dblreq");
    assert_eq!(req.method.as_str(), "REGISTER");
    assert!(req.body.is_empty());
    assert_eq!(info.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

#[test]
fn semiuri_semicolon_separated_parameters_in_uri_user_part() {
    let (req, _) = valid_request("semiuri");
    assert_eq!(req.uri.user(), Some("user;par=u@example.net"));
    assert_eq!(req.uri.host(), "example.com");
    assert_eq!(req.uri.param("par"), None);
    assert_eq!(req.headers.get_all("Accept").len(), 6);
}

#[test]
fn transports_varied_and_unknown_transport_types() {
    let (req, info) = valid_request("transports");
    let vias = req.headers.get_all("Via");
    assert_eq!(vias.len(), 5);
    let hosts: Vec<_> = vias
        .iter()
        .map(|v| v.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        hosts,
        [
            "t1.example.com;branch=z9hG4bKkdjuw",
            "t2.example.com;branch=z9hG4bKklasjdhf",
            "t3.example.com;branch=z9hG4bK2980unddj",
            "t4.example.com;branch=z9hG4bKasd0f3en",
            "t5.example.com;branch=z9hG4bK0a9idfnee"
        ]
    );
    // Only the top Via is ours to read; SCTP and UNKNOWN below it are carried as text.
    assert_eq!(info.via.transport, Transport::Udp);
    assert_eq!(Via::parse(vias[2]).unwrap().transport, Transport::Tls);
    assert_eq!(info.call_id, "transports.kijh4akdnaqjkwendsasfdj");
}

#[test]
fn mpart01_multipart_body_with_binary_part() {
    let (req, info) = valid_request("mpart01");
    assert_eq!(req.method.as_str(), "MESSAGE");
    assert_eq!(req.body.len(), 553);
    assert!(req.body.starts_with(b"--7a9cbec02ceef655\r\n"));
    assert!(req.body.ends_with(b"\r\n--7a9cbec02ceef655--\r\n"));
    assert_eq!(info.via.params.get("rport"), Some(None));
}

#[test]
fn unreason_utf8_reason_phrase() {
    let resp = response("unreason");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.reason,
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
    assert_eq!(resp.cseq().unwrap().seq, 35);
    assert_eq!(resp.body.len(), 154);
}

#[test]
fn noreason_empty_reason_phrase() {
    let resp = response("noreason");
    assert_eq!(resp.status, 100);
    assert_eq!(resp.reason, "");
    assert!(resp.cseq().is_ok());
}

// ---- §3.1.2 invalid messages ----

#[test]
fn badinv01_extraneous_semicolons_and_commas() {
    assert_eq!(refused("badinv01"), ParseError::BadHeader("Via"));
}

#[test]
fn clerr_content_length_larger_than_message() {
    assert_eq!(refused("clerr"), ParseError::BadContentLength);
}

#[test]
fn ncl_negative_content_length() {
    assert_eq!(refused("ncl"), ParseError::BadContentLength);
}

#[test]
fn scalar02_request_scalars_with_overlarge_values() {
    // CSeq 2^65, Max-Forwards 300: 400.
    assert_eq!(refused("scalar02"), ParseError::BadHeader("CSeq"));
}

#[test]
fn scalarlg_response_scalars_with_overlarge_values() {
    // A response cannot be answered; its CSeq does not parse, so no transaction matches and it is
    // dropped, as the RFC asks.
    let resp = response("scalarlg");
    assert_eq!(resp.cseq(), Err(ParseError::BadHeader("CSeq")));
}

#[test]
fn quotbal_unterminated_quoted_string_in_display_name() {
    assert_eq!(refused("quotbal"), ParseError::BadHeader("To"));
}

#[test]
fn ltgtruri_laquot_rquot_around_request_uri() {
    assert!(matches!(refused("ltgtruri"), ParseError::BadUri(_)));
}

#[test]
fn lwsruri_lws_inside_request_uri() {
    assert_eq!(refused("lwsruri"), ParseError::BadStartLine);
}

#[test]
fn lwsstart_multiple_sp_in_request_line() {
    assert_eq!(refused("lwsstart"), ParseError::BadStartLine);
}

#[test]
fn trws_sp_after_sip_version() {
    assert_eq!(refused("trws"), ParseError::BadStartLine);
}

#[test]
fn escruri_escaped_headers_in_request_uri() {
    assert_eq!(
        refused("escruri"),
        ParseError::BadUri("headers in request-uri")
    );
}

#[test]
fn baddate_non_gmt_date_is_not_read() {
    // RFC 4475 §3.1.2.12 lets an element that does not use Date be liberal and accept the request.
    // Chorus never reads Date, so the request is accepted and Date is carried as text.
    let (req, _) = valid_request("baddate");
    assert_eq!(
        req.headers.get("Date"),
        Some("Fri, 01 Jan 2010 16:00:00 EST")
    );
}

#[test]
fn regbadct_escaped_header_in_unbracketed_contact() {
    // The request line and mandatory headers are fine; the Contact is the fault. Chorus is no
    // registrar and reads Contact only of INVITE and its responses, through NameAddr, which refuses an
    // addr-spec carrying `?` (RFC 4475 §3.1.2.13 wants 400 where the Contact is used).
    let (req, _) = valid_request("regbadct");
    assert!(NameAddr::parse(req.headers.get("Contact").unwrap()).is_err());
}

#[test]
fn badaspec_lws_inside_angle_brackets() {
    assert_eq!(refused("badaspec"), ParseError::BadHeader("To"));
}

#[test]
fn baddn_unquoted_display_name_with_non_token_characters() {
    assert_eq!(refused("baddn"), ParseError::BadHeader("From"));
}

#[test]
fn badvers_unknown_protocol_version() {
    // RFC 4475 §3.1.2.16 expects 505; chorus refuses it at the start line and answers 400.
    assert_eq!(refused("badvers"), ParseError::BadStartLine);
}

#[test]
fn mismatch01_start_line_and_cseq_method_mismatch() {
    assert_eq!(refused("mismatch01"), ParseError::BadHeader("CSeq"));
}

#[test]
fn mismatch02_unknown_method_with_cseq_method_mismatch() {
    assert_eq!(refused("mismatch02"), ParseError::BadHeader("CSeq"));
}

#[test]
fn bigcode_overlarge_response_code() {
    // A response is never answered: this one is dropped.
    assert_eq!(
        Message::parse(&fixture("bigcode")),
        Err(ParseError::BadStartLine)
    );
}

// ---- §3.2 transaction layer, §3.3 application layer, §3.4 backward compatibility ----

#[test]
fn badbranch_magic_cookie_only_is_well_formed() {
    let (_, info) = valid_request("badbranch");
    assert_eq!(info.via.branch(), Some("z9hG4bK"));
}

#[test]
fn insuf_missing_required_header_fields() {
    assert!(matches!(refused("insuf"), ParseError::MissingHeader(_)));
}

#[test]
fn unkscm_and_novelsc_unknown_request_uri_scheme() {
    // RFC 4475 §3.3.2/§3.3.3 expect 416; chorus refuses the URI and answers 400.
    for name in ["unkscm", "novelsc"] {
        assert_eq!(refused(name), ParseError::BadUri("unsupported scheme"));
    }
}

#[test]
fn unksm2_unknown_schemes_in_from_and_to() {
    // From is read first: <http://...> is refused before To's isbn: URI.
    assert_eq!(refused("unksm2"), ParseError::BadHeader("From"));
}

#[test]
fn multi01_multiple_values_in_single_value_headers() {
    assert_eq!(refused("multi01"), ParseError::BadHeader("From"));
}

#[test]
fn mcl01_multiple_content_lengths() {
    assert_eq!(refused("mcl01"), ParseError::BadContentLength);
}

#[test]
fn application_layer_messages_parse_for_the_core_to_judge() {
    // Require/Proxy-Require (420), unknown body type (415), unknown auth scheme, Max-Forwards 0,
    // Contact parameters, an escaped Route in a bracketed Contact, an Accept without SDP (406) and
    // a bare RFC 2543 INVITE are the transaction user's to answer, so the parser must let them in.
    for name in [
        "bext01", "invut", "regaut01", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01",
        "inv2543",
    ] {
        valid_request(name);
    }
    let cparam02 = request("cparam02");
    let contact = NameAddr::parse(cparam02.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.uri.param("unknownparam"), Some(None));
    let regescrt = request("regescrt");
    assert!(NameAddr::parse(regescrt.headers.get("Contact").unwrap()).is_ok());
    // inv2543 has no Content-Length: over UDP the body runs to the end of the datagram.
    assert_eq!(request("inv2543").body.len(), 105);
}

#[test]
fn bcast_response_with_broadcast_via_parses() {
    // Dropping it is the transport/transaction layer's call (RFC 4475 §3.3.10).
    let resp = response("bcast");
    assert_eq!(resp.headers.get_all("Via").len(), 2);
}

#[test]
fn every_fixture_is_handled_without_panic() {
    let dir = format!("{}/tests/fixtures/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sip") {
            let data = std::fs::read(&path).unwrap();
            if let Ok(Message::Request(r)) = Message::parse(&data) {
                let _ = r.validate();
            }
            n += 1;
        }
    }
    assert_eq!(n, 49);
}
