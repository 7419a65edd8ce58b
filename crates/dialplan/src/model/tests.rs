//! The checker: what it accepts, the defaults it fills in, and every error with its exact position.

use super::*;

const PLAN: &str = "routes:
  - name: echo
    match: echo
    steps: [answer, echo]
  - name: conf
    match: 'conf-(?P<room>[0-9]+)'
    steps:
      - ring: 500ms
      - play: [hello, hello]
      - pause: 1s
      - hangup
";

fn errors(yaml: &str) -> Vec<String> {
    match Dialplan::parse("x.yaml", yaml, None) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.iter().map(|d| d.to_string()).collect(),
    }
}

fn prompts_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts")
}

#[test]
fn routes_match_whole_user_with_captures() {
    let plan = Dialplan::parse("t.yaml", PLAN, None).unwrap();
    let (r, vars) = plan.route("conf-42").unwrap();
    assert_eq!(r.name, "conf");
    assert_eq!(vars.get("room").map(String::as_str), Some("42"));
    assert_eq!(
        r.steps,
        vec![
            Step::Ring(Duration::from_millis(500)),
            Step::Play(Play {
                prompts: vec!["hello".into(), "hello".into()],
                barge_in: false
            }),
            Step::Pause(Duration::from_secs(1)),
            Step::Hangup(HangupReason::Normal)
        ]
    );
    assert!(plan.route("echo2").is_none());
    assert!(plan.route("xecho").is_none());
    assert_eq!(plan.find("echo").unwrap().0, 0);
}

#[test]
fn example_dialplans_pass_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
            if let Err(e) = Dialplan::load(&path, Some(&prompts_dir())) {
                panic!("{}: {e:#?}", path.display());
            }
            n += 1;
        }
    }
    assert!(n >= 3, "demo, company and voicemail");
    // The demo has exactly the routes of ARCHITECTURE.md; anything else is a 404.
    let demo = Dialplan::load(&dir.join("demo.yaml"), Some(&prompts_dir())).unwrap();
    for (user, route) in [
        ("echo", "echo"),
        ("hello", "hello"),
        ("record", "record"),
        ("digits", "digits"),
        ("ivr", "ivr"),
        ("conf-1", "conference"),
        ("conf-42", "conference"),
    ] {
        assert_eq!(
            demo.route(user).map(|r| r.0.name.as_str()),
            Some(route),
            "{user}"
        );
    }
    for user in ["", "conf-", "conf-x", "echo1", "other", "Echo"] {
        assert!(demo.route(user).is_none(), "{user} must be a 404");
    }
    let names = demo.prompt_names();
    for p in [
        "beep",
        "welcome",
        "menu",
        "digit-0",
        "room-full",
        "you-entered",
    ] {
        assert!(names.contains(&p), "{p} in {names:?}");
    }
}

#[test]
fn defaults() {
    let plan = Dialplan::parse(
        "t.yaml",
        "routes:\n  - match: t\n    steps:\n      - collect: {into: x}\n      - record\n      - conference: lobby\n      - transfer: sip:a@b\n",
        None,
    )
    .unwrap();
    let s = &plan.routes[0].steps;
    assert_eq!(
        s[0],
        Step::Collect(Box::new(Collect {
            into: "x".into(),
            prompts: vec![],
            min: 1,
            max: 20,
            terminators: "#".into(),
            first_digit_timeout: Duration::from_secs(5),
            digit_timeout: Duration::from_secs(3),
            tries: 3,
            no_input: vec![],
            invalid: vec![],
            pattern: None,
            on_failure: vec![],
        }))
    );
    let Step::Record(r) = &s[1] else {
        panic!("{:?}", s[1])
    };
    assert_eq!(
        (r.beep, r.max, r.terminators.as_str(), r.silence, &r.into),
        (true, Duration::from_secs(60), "#", None, &None)
    );
    assert_eq!(
        r.name,
        Template(vec![
            Part::Var("timestamp".into()),
            Part::Text("-".into()),
            Part::Var("route".into())
        ])
    );
    assert_eq!(
        s[2],
        Step::Conference(Box::new(Conference {
            room: Template::text("lobby"),
            options: RoomOptions::default(),
            full: vec![],
            pin: None,
        }))
    );
    assert_eq!(
        s[3],
        Step::Transfer(Transfer {
            to: Template::text("sip:a@b"),
            mode: TransferMode::Auto
        })
    );
}

#[test]
fn every_error_at_its_position_with_suggestions() {
    let bad = "menus:
  main:
    promt: menu
    timeout: 5 parsecs
    choices:
      1: {goto: mian}
      12: hangup
      2: {menu: main}
routes:
  - name: a
    match: '('
    steps:
      - plya: hello
      - play: nosuch
      - collect: {into: x, max_digits: 4, first_digit_timeout: 2s}
      - say_digits: '{xx}'
      - if: {time: 'Mon-Fry 09:00-17:00'}
        then: hangup
      - hangup: bsy
      - transfer: 'alice@example.com'
  - nme: b
    match: b
    steps: [answer, echo, hangpu]
  - match: c
    steps:
      - play: hello
        barge_in: true
";
    let errs = match Dialplan::parse("x.yaml", bad, Some(&prompts_dir())) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    };
    assert_eq!(
        errs,
        [
            "x.yaml:3:5: unknown key 'promt' in menu 'main' (did you mean 'prompt'?)",
            "x.yaml:4:14: timeout: invalid duration unit 'parsecs' in '5 parsecs' (use ms, s, m or h)",
            "x.yaml:6:17: undefined menu 'mian' (did you mean 'main'?)",
            "x.yaml:7:11: menu choice '12' must be one key (0-9, *, #, A-D); quote * and #",
            "x.yaml:8:17: menu 'main' runs itself through 'menu: main'; use 'goto: main' to go back to a menu",
            "x.yaml:11:12: invalid match pattern: unclosed group",
            "x.yaml:13:9: unknown step 'plya' (did you mean 'play'?)",
            &format!("x.yaml:14:15: prompt 'nosuch' not found in {}", prompts_dir().display()),
            "x.yaml:15:28: unknown key 'max_digits' in collect (did you mean 'max'?)",
            "x.yaml:16:21: undefined variable 'xx' (did you mean 'x'?) (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:17:20: time 'Mon-Fry 09:00-17:00': unknown day 'Fry' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)",
            "x.yaml:19:17: unknown hangup reason 'bsy' (did you mean 'busy'?)",
            "x.yaml:20:19: transfer target must be a URI starting with sip:, sips: or tel:",
            "x.yaml:21:5: unknown key 'nme' in route (did you mean 'name'?)",
            "x.yaml:23:27: unknown step 'hangpu' (did you mean 'hangup'?)",
            "x.yaml:27:9: unexpected key 'barge_in' in step 'play': options go under it, indented (e.g. 'play:' then '  barge_in: ...')",
        ]
    );
}

#[test]
fn invalid_yaml_points_at_the_problem() {
    assert_eq!(
        errors("routes:\n  - match: a\n    steps: [answer\n"),
        ["x.yaml:3:12: invalid yaml: unclosed bracket '['"]
    );
    assert_eq!(
        errors("routes:\n  - match: a\n    steps:\n      - play: hello\n     - hangup\n"),
        ["x.yaml:5:6: invalid yaml: while parsing a block mapping, did not find expected key"]
    );
    assert_eq!(
        errors(""),
        ["x.yaml:1:1: the dialplan must be a mapping, found nothing"]
    );
    assert_eq!(
        errors("routes: 3\n"),
        ["x.yaml:1:9: routes must be a list, found a number"]
    );
    assert_eq!(
        errors("menus: {}\n"),
        ["x.yaml:1:1: the dialplan needs 'routes'"]
    );
}

#[test]
fn wrong_shapes_and_types() {
    let e = errors(
        "routes:
  - match: a
    steps:
      - play
      - answer: now
      - 5
      - ring: [1s]
      - collect: {into: 'a b', min: 5, max: 2, tries: 0, terminators: 'x'}
      - record: {max: 0s, beep: 'loud'}
      - set: {'x y': 1}
      - if: {var: a}
      - if: {var: a, equals: '1', matches: '1'}
      - if: {var: a, equals: '1'}
      - switch: a
      - play: {prompt: []}
      - transfer: {to: 'sip:a@b', mode: blind}
      - conference: {room: '1', exit_key: '12', max_members: 0}
      - say_number: '{a'
      - progress: now
      - progres
      - record_call: {nmae: x}
      - record_call: {into: 'a b'}
      - record_call: pause
",
    );
    assert_eq!(
        e,
        [
            "x.yaml:4:9: step 'play' needs a value, e.g. 'play: hello'",
            "x.yaml:5:9: step 'answer' takes no value",
            "x.yaml:6:9: a step must be a name like 'answer' or a mapping like 'play: hello', found a number",
            "x.yaml:7:15: ring duration must be a duration like 5s or 500ms, found a list",
            "x.yaml:8:25: into 'a b' is not a variable name (letters, digits and _)",
            "x.yaml:9:17: record: max must be more than 0s",
            "x.yaml:9:33: beep must be true or false, found a string",
            "x.yaml:10:22: 'x y' is not a variable name (letters, digits and _)",
            "x.yaml:11:13: if on a variable needs exactly one of 'equals', 'matches', 'empty'",
            "x.yaml:11:19: undefined variable 'a' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:12:13: if on a variable needs exactly one of 'equals', 'matches', 'empty'",
            "x.yaml:12:19: undefined variable 'a' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:13:9: 'if' needs 'then' (the steps run when the test holds)",
            "x.yaml:13:19: undefined variable 'a' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:14:9: 'switch' needs 'cases' (value: steps)",
            "x.yaml:14:17: undefined variable 'a' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:15:24: play needs at least one prompt",
            "x.yaml:16:41: unknown transfer mode 'blind'; modes: auto, redirect, refer",
            "x.yaml:17:43: exit_key must be one key",
            "x.yaml:17:62: max_members must be between 1 and 10000, found 0",
            "x.yaml:18:21: say_number: unclosed '{' in '{a'",
            "x.yaml:19:9: step 'progress' takes no value",
            "x.yaml:20:9: unknown step 'progres' (did you mean 'progress'?)",
            "x.yaml:21:23: unknown key 'nmae' in record_call (did you mean 'name'?)",
            "x.yaml:22:29: into 'a b' is not a variable name (letters, digits and _)",
            "x.yaml:23:22: record_call: 'pause' is not mask, unmask or stop (to name the file, write record_call: {name: 'pause'})",
        ]
    );
}

#[test]
fn loops_with_no_exit_are_rejected() {
    let e = errors(
        "menus:
  a:
    choices: {1: hangup}
    on_failure: {goto: b}
  b:
    choices: {1: hangup}
    on_failure: [{play: x}, {goto: a}]
  c:
    choices: {1: hangup}
    on_failure: {goto: a}
routes:
  - match: t
    steps: [{goto: c}]
",
    );
    assert_eq!(
        e,
        [
            "x.yaml:3:5: menu 'a' loops forever when the caller presses nothing: its on_failure leads back to it; end it with hangup",
            "x.yaml:6:5: menu 'b' loops forever when the caller presses nothing: its on_failure leads back to it; end it with hangup",
        ]
    );
    // A menu that goes back to itself on a key press is fine: the caller chose to.
    Dialplan::parse(
        "ok.yaml",
        "menus:\n  a:\n    choices: {9: {goto: a}}\nroutes:\n  - match: t\n    steps: [{goto: a}]\n",
        None,
    )
    .unwrap();
}

#[test]
fn yaml_1_1_booleans_are_words() {
    let plan = Dialplan::parse(
        "t.yaml",
        "routes:\n  - match: '(?P<n>.*)'\n    steps:\n      - if: {var: n, equals: no}\n        then: {set: {y: yes}}\n",
        None,
    )
    .unwrap();
    let Step::If(i) = &plan.routes[0].steps[0] else {
        panic!()
    };
    assert_eq!(
        i.condition,
        Condition::Equals("n".into(), Template::text("no"))
    );
    assert_eq!(
        errors("routes:\n  - match: a\n    steps: [{record: {beep: yes}}]\n"),
        ["x.yaml:3:29: beep must be true or false, found a string"]
    );
}

/// Every prefix of the demo, and the demo with characters swapped for YAML syntax, is checked without a panic.
#[test]
fn mangled_files_never_panic() {
    let text = include_str!("../../../../dialplans/demo.yaml");
    let mut n = 0;
    // Sparse positions keep this quick in a debug build.
    for (i, ch) in text.char_indices().filter(|(i, _)| i % 7 == 0) {
        let _ = Dialplan::parse("m.yaml", &text[..i], None);
        if i % 21 == 0 {
            for c in [":", "-", " ", "{", "[", "\n", "'", "*", "&a ", "!!binary "] {
                let mangled = format!("{}{c}{}", &text[..i], &text[i + ch.len_utf8()..]);
                let _ = Dialplan::parse("m.yaml", &mangled, None);
                n += 1;
            }
        }
    }
    assert!(n > 1000, "{n}");
}

#[test]
fn templates() {
    assert_eq!(
        Template::parse("a{b}c{{d}}").unwrap(),
        Template(vec![
            Part::Text("a".into()),
            Part::Var("b".into()),
            Part::Text("c{d}".into())
        ])
    );
    for bad in ["{", "{}", "}", "{a b}", "{a"] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
    assert!(parse_duration("-1s").is_err());
    assert!(parse_duration("fast").is_err());
    assert!(parse_duration("99999h").is_err());
}

#[test]
fn conference_mute_key_and_moderator_options() {
    let e = errors(
        "routes:
  - match: a
    steps:
      - conference: {room: '1', mute_key: '*66*'}
      - conference: {room: '1', mute_key: '*x'}
      - conference: {room: '1', exit_key: '#', mute_key: '#1'}
      - conference: {room: '1', mute_key: 6}
      - conference: {room: '1', moderator: yes please}
      - conference: {room: '1', mute_key: '', wait_for_moderator: true, end_with_moderator: true}
",
    );
    assert_eq!(
        e,
        [
            "x.yaml:4:43: mute_key must be 1 to 3 keys (or '' for none)",
            "x.yaml:5:43: mute_key: 'x' is not a DTMF key (0-9, *, #, A-D)",
            "x.yaml:6:58: mute_key '#1' starts with exit_key '#'",
            "x.yaml:8:44: moderator must be true or false, found a string",
        ]
    );
}

#[test]
fn conference_pin_options_are_checked() {
    let e = errors(
        "routes:
  - match: a
    steps:
      - conference: {room: '1', pin: 1234}
      - conference: {room: '1', pin: '12#4'}
      - conference: {room: '1', moderator_pin: '99'}
      - conference: {room: '1', pin: '1', pin_tries: 0}
      - conference: {room: '1', pin: '{pin', bad_pin: [a, b]}
      - conference: {room: '1', pin: '123456789012345678901'}
",
    );
    assert_eq!(
        e,
        [
            "x.yaml:4:38: pin: quote it ('1234'), or leading zeros are lost",
            "x.yaml:5:38: pin: '#' cannot be in a PIN (keys 0-9, *, A-D; # ends the input)",
            "x.yaml:6:48: conference: 'moderator_pin' needs 'pin'",
            "x.yaml:7:54: pin_tries must be between 1 and 20, found 0",
            "x.yaml:8:38: pin: unclosed '{' in '{pin'",
            "x.yaml:9:38: pin: at most 20 keys",
        ]
    );
    let plan = Dialplan::parse(
        "x.yaml",
        "routes:
  - match: 'c(?P<code>[0-9]+)'
    steps:
      - conference: {room: '1', pin: '0042', moderator_pin: '{code}', pin_prompt: [a, b], pin_tries: 5}
      - conference: {room: '1', pin: '7'}
",
        None,
    )
    .expect("valid");
    let pins: Vec<&PinCheck> = plan.routes[0]
        .steps
        .iter()
        .map(|s| match s {
            Step::Conference(c) => c.pin.as_ref().expect("a pin"),
            _ => panic!("not a conference"),
        })
        .collect();
    assert_eq!(pins[0].pin, Template::text("0042"));
    assert_eq!(
        pins[0].moderator_pin,
        Some(Template(vec![Part::Var("code".into())]))
    );
    assert_eq!((pins[0].prompt.len(), pins[0].tries), (2, 5));
    assert_eq!(
        (
            &pins[1].prompt[..],
            &pins[1].bad_pin[..],
            pins[1].tries,
            &pins[1].moderator_pin
        ),
        (
            &["enter-pin".to_string()][..],
            &["invalid".to_string()][..],
            3,
            &None
        )
    );
}

#[test]
fn conference_options_parse_with_defaults() {
    let yaml = "routes:
  - match: a
    steps:
      - conference: '1'
      - conference: {room: '2', mute_key: '#', moderator: true, wait_for_moderator: true, end_with_moderator: true}
      - conference: {room: '3', mute_key: ''}
      - conference: {room: '4', deaf: true, gain: -6}
";
    let plan = Dialplan::parse("x.yaml", yaml, None).expect("valid");
    let opts: Vec<RoomOptions> = plan.routes[0]
        .steps
        .iter()
        .map(|s| match s {
            Step::Conference(c) => c.options.clone(),
            _ => panic!("not a conference"),
        })
        .collect();
    assert_eq!(opts[0].mute_key, "*6");
    assert!(!opts[0].moderator && !opts[0].wait_for_moderator && !opts[0].end_with_moderator);
    assert_eq!(opts[1].mute_key, "#");
    assert!(opts[1].moderator && opts[1].wait_for_moderator && opts[1].end_with_moderator);
    assert_eq!(opts[2].mute_key, "");
    assert!(!opts[0].deaf && opts[0].gain_db == 0);
    assert!(opts[3].deaf && opts[3].gain_db == -6);
    assert_eq!(
        errors(
            "routes:
  - match: a
    steps:
      - conference: {room: '1', gain: 30, deaf: 1}
"
        ),
        [
            "x.yaml:4:39: gain (dB) must be between -24 and 18, found 30",
            "x.yaml:4:49: deaf must be true or false, found a number"
        ]
    );
}

#[test]
fn timezone_is_an_iana_name_or_a_utc_offset_not_both() {
    let plan = Dialplan::parse("x.yaml", &format!("timezone: Europe/Paris\n{PLAN}"), None).unwrap();
    assert_eq!(
        plan.routes[0].shared.clock,
        crate::time::Clock::zone("Europe/Paris").unwrap()
    );
    let plan = Dialplan::parse("x.yaml", &format!("utc_offset: '-05:00'\n{PLAN}"), None).unwrap();
    assert_eq!(
        plan.routes[0].shared.clock,
        crate::time::Clock::Offset(-300)
    );
    assert_eq!(
        errors(&format!("timezone: Europe/Pariss\n{PLAN}")),
        ["x.yaml:1:11: unknown time zone 'Europe/Pariss' (an IANA name such as Europe/Paris, America/New_York or UTC)"]
    );
    assert_eq!(
        errors(&format!(
            "utc_offset: '+01:00'\ntimezone: Europe/Paris\n{PLAN}"
        )),
        ["x.yaml:2:11: give either 'timezone' or 'utc_offset', not both"]
    );
    assert_eq!(
        errors(&format!("timzone: Europe/Paris\n{PLAN}")),
        ["x.yaml:1:1: unknown key 'timzone' in the dialplan (did you mean 'timezone'?)"]
    );
}

#[test]
fn send_dtmf_short_and_long_forms_with_defaults() {
    let plan = Dialplan::parse(
        "x.yaml",
        "routes:
  - match: 'p(?P<pin>[0-9]+)'
    steps:
      - send_dtmf: '1234#'
      - send_dtmf: {digits: '{pin}#', duration: 250ms, gap: 1s}
      - send_dtmf: {digits: '*9ABCD0', gap: 40ms}
      - send_dtmf: '9w1234W#'
",
        None,
    )
    .expect("valid");
    let s = &plan.routes[0].steps;
    assert_eq!(
        s[0],
        Step::SendDtmf(SendDtmf {
            digits: Template::text("1234#"),
            duration: Duration::from_millis(100),
            gap: Duration::from_millis(100),
        })
    );
    assert_eq!(
        s[1],
        Step::SendDtmf(SendDtmf {
            digits: Template(vec![Part::Var("pin".into()), Part::Text("#".into())]),
            duration: Duration::from_millis(250),
            gap: Duration::from_secs(1),
        })
    );
    let Step::SendDtmf(third) = &s[2] else {
        panic!("{:?}", s[2])
    };
    assert_eq!(
        (third.duration, third.gap),
        (Duration::from_millis(100), Duration::from_millis(40))
    );
    let Step::SendDtmf(fourth) = &s[3] else {
        panic!("{:?}", s[3])
    };
    assert_eq!(fourth.digits, Template::text("9w1234W#"), "pauses are kept");
}

#[test]
fn send_dtmf_errors_at_their_position() {
    let e = errors(
        "routes:
  - match: a
    steps:
      - send_dtmf: '12x4'
      - send_dtmf: {digits: '1', duration: 20ms}
      - send_dtmf: {digits: '1', duration: 2s, gap: 6s}
      - send_dtmf: {digits: '#', duration: fast}
      - send_dtmf: 1234
      - send_dtmf: {duration: 100ms}
      - send_dtmf: {digits: '{nope}1', gpa: 100ms}
      - send_dtmf: ''
      - send_dtmf
      - sned_dtmf: '1'
",
    );
    assert_eq!(
        e,
        [
            "x.yaml:4:20: send_dtmf: 'x' is not a DTMF key (0-9, *, #, A-D) or a pause (w, W)",
            "x.yaml:5:44: send_dtmf duration must be between 40ms and 1s, found 20ms",
            "x.yaml:6:44: send_dtmf duration must be between 40ms and 1s, found 2s",
            "x.yaml:6:53: send_dtmf gap must be between 40ms and 5s, found 6s",
            "x.yaml:7:44: send_dtmf duration: invalid duration 'fast' (write e.g. 500ms, 5s, 2m)",
            "x.yaml:8:20: send_dtmf keys must be quoted, e.g. '0123#' (a bare number loses its leading zeros)",
            "x.yaml:9:20: send_dtmf needs 'digits'",
            "x.yaml:10:29: undefined variable 'nope' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:10:40: unknown key 'gpa' in send_dtmf (did you mean 'gap'?)",
            "x.yaml:11:20: send_dtmf needs at least one key",
            "x.yaml:12:9: step 'send_dtmf' needs a value, e.g. 'send_dtmf: \"1234#\"'",
            "x.yaml:13:9: unknown step 'sned_dtmf' (did you mean 'send_dtmf'?)",
        ]
    );
}

#[test]
fn header_variables_need_no_definition() {
    let plan = Dialplan::parse(
        "x.yaml",
        "routes:
  - match: a
    steps:
      - set: {t: '{sip_h_X-Tenant}.{sip_h_P-Asserted-Identity}'}
      - if: {var: sip_h_X-Tenant, matches: '[a-z]+'}
        then: [hangup]
",
        None,
    );
    assert!(plan.is_ok(), "{plan:?}");
    assert_eq!(
        errors(
            "routes:
  - match: a
    steps:
      - set: {t: '{sip_h_}{x-y}'}
"
        ),
        [
            "x.yaml:4:18: undefined variable 'sip_h_' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)",
            "x.yaml:4:18: undefined variable 'x-y' (variables come from match captures, set, collect and record, or are one of route, timestamp, date, time, caller, caller_name, called, call_id)"
        ]
    );
}
