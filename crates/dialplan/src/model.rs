//! The dialplan model and its checker: YAML (read by serde-saphyr, which is panic-free and reports
//! positions) to checked routes, menus and steps. Every problem carries the file, line and column it points at,
//! and misspelled keys and step names get a did-you-mean.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde_saphyr::Location;

use crate::node::{did_you_mean, Node, Sp};
use crate::time::TimeWindows;

/// A problem found in a dialplan file, printed as `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file's path as given.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A checked dialplan: routes in the order they are tried, and the menus they share.
#[derive(Clone, Debug)]
pub struct Dialplan {
    /// Routes; the first whose pattern matches the Request-URI user wins.
    pub routes: Vec<Route>,
    /// Menus and settings shared by every route (each [`Route`] holds the same `Arc`).
    pub shared: Arc<Shared>,
}

/// What the routes of one dialplan share.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    /// Menus by name.
    pub menus: BTreeMap<String, Menu>,
    /// The clock of `time` conditions and the `date`/`time` variables: `timezone` or `utc_offset`.
    pub clock: crate::time::Clock,
}

/// One route: a pattern on the Request-URI user and the steps a matching call runs.
#[derive(Clone, Debug)]
pub struct Route {
    /// The route's name (logged in the call log as `route`).
    pub name: String,
    /// The pattern, anchored at both ends.
    pub pattern: Regex,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// The plan's menus and settings.
    pub shared: Arc<Shared>,
}

/// A regular expression compared by its text (so steps can be compared in tests).
#[derive(Clone, Debug)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
impl Eq for Pattern {}

/// A string with `{variable}` references, expanded when the step runs. `{{` and `}}` write braces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(pub Vec<Part>);

/// A piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// The value of a variable (empty when unset).
    Var(String),
}

impl Template {
    /// A template that is only text.
    pub fn text(s: &str) -> Template {
        Template(vec![Part::Text(s.to_string())])
    }

    /// Parses `a{b}c`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            // `-` and `.` for header variables (`{sip_h_X-Account}`).
                            Some(c) if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') => {
                                name.push(c)
                            }
                            Some(c) => {
                                return Err(format!(
                                    "invalid character '{c}' in variable name in '{s}' (write {{{{ for a brace)"
                                ))
                            }
                            None => return Err(format!("unclosed '{{' in '{s}'")),
                        }
                    }
                    if name.is_empty() {
                        return Err(format!("empty variable name '{{}}' in '{s}'"));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' => return Err(format!("unmatched '}}' in '{s}' (write }}}} for a brace)")),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template(parts))
    }

    /// The variables it refers to.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with each variable replaced by `lookup(name)` (empty when it gives `None`).
    pub fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(&lookup(v).unwrap_or_default()),
            }
        }
        out
    }
}

/// Prefix of the variables that read a header of the call's INVITE: `{sip_h_X-Account}` (FreeSWITCH's
/// `sip_h_` naming), empty when the INVITE has no such header.
pub const HEADER_VAR_PREFIX: &str = "sip_h_";

/// `sip_h_` followed by a header name (letters, digits, `-`, `.`, `_`).
pub fn is_header_var(name: &str) -> bool {
    name.strip_prefix(HEADER_VAR_PREFIX).is_some_and(|h| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    })
}

/// Variables every call has without defining them.
pub const BUILTIN_VARS: &[&str] = &[
    "route",
    "timestamp",
    "date",
    "time",
    "caller",
    "caller_name",
    "called",
    "call_id",
];

/// What a call does, one step at a time. The YAML name of each step is given first.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `answer`: answer the call (200 OK). Media steps answer first by themselves when this is left out.
    Answer,
    /// `ring: 2s`: send 180 Ringing and wait this long before the next step.
    Ring(Duration),
    /// `progress`: early media (183 Session Progress with the SDP answer). The steps after it that play
    /// or listen run without answering the call, so a caller can hear an announcement and then get a
    /// refusal (`hangup: not_found`) without the call ever being answered.
    Progress,
    /// `play`: play prompts one after another.
    Play(Play),
    /// `play: {recording: '{message}'}`: play a file from the recordings directory.
    PlayRecording(PlayRecording),
    /// `say_digits: "{account}"`: speak each character (0-9, `*`, `#`) with the `digit-N` prompts.
    SayDigits(Template),
    /// `say_number: "{amount}"`: speak a whole number in English words with the `number-N` prompts.
    SayNumber(Template),
    /// `echo` / `echo: 10s`: send back what the caller sends, until the caller hangs up or for at most this long.
    Echo(Option<Duration>),
    /// `pause: 1s`: keep the line open in silence.
    Pause(Duration),
    /// `hangup` / `hangup: busy`: end the call (BYE once answered; before, the reason's status code).
    Hangup(HangupReason),
    /// `collect`: read digits into a variable.
    Collect(Box<Collect>),
    /// `menu: name`: run a menu, then go on with the next step.
    Menu(String),
    /// `goto: name`: run a menu and do not come back: the steps after `goto` are not run.
    Goto(String),
    /// `record`: record the caller.
    Record(Box<Record>),
    /// `conference`: join a conference room until the caller leaves it.
    Conference(Box<Conference>),
    /// `set: {var: value}`: set variables (values are templates).
    Set(Vec<(String, Template)>),
    /// `if` / `then` / `else`.
    If(Box<If>),
    /// `switch` / `cases` / `default`.
    Switch(Box<Switch>),
    /// `transfer`: send the call elsewhere (302 before the answer, REFER after).
    Transfer(Transfer),
    /// `send_dtmf: '1234#'`: send keys to the caller (RFC 4733 events, else in-band tones).
    SendDtmf(SendDtmf),
    /// `record_call`: record the whole call from here to its end in the background, both directions
    /// mixed, while the next steps run.
    RecordCall(Box<RecordCall>),
    /// `record_call: mask`, `unmask` or `stop`: control the whole-call recording.
    RecordCallControl(RecordCallControl),
}

/// What `record_call: mask|unmask|stop` does to a running whole-call recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordCallControl {
    /// Silence goes into the file instead of the call's audio (card numbers, PINs), keeping its time.
    Mask,
    /// The call's audio goes into the file again.
    Unmask,
    /// The recording ends here (its file is complete); a later `record_call` starts a new one.
    Stop,
}

/// The `record_call` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordCall {
    /// File name without extension (`name`, default `{timestamp}-{route}-call`); unsafe characters
    /// become `_`.
    pub name: Template,
    /// Variable that receives the recording's file name, empty when it could not start (`into`).
    pub into: Option<String>,
    /// Two channels, the caller on the left and what the caller hears on the right (`stereo`, default
    /// false: one channel, both mixed).
    pub stereo: bool,
}

/// The `send_dtmf` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendDtmf {
    /// The keys, `0-9`, `*`, `#`, `A-D`, and pauses, `w` (0.5 s) and `W` (1 s) (`digits`, a template;
    /// text written in the plan is checked, and characters of expanded variables that are neither are
    /// skipped).
    pub digits: Template,
    /// How long each key sounds (`duration`, default 100ms, 40ms to 1s).
    pub duration: Duration,
    /// Silence after each key (`gap`, default 100ms, 40ms to 5s).
    pub gap: Duration,
}

impl SendDtmf {
    /// Default `duration`.
    pub const DURATION: Duration = Duration::from_millis(100);
    /// Default `gap`.
    pub const GAP: Duration = Duration::from_millis(100);
    /// Shortest `duration` and `gap`: the least a receiver must take as a key and as a pause (ITU-T
    /// Q.24).
    pub const MIN: Duration = Duration::from_millis(40);
    /// Longest `duration`.
    pub const MAX_DURATION: Duration = Duration::from_secs(1);
    /// Longest `gap` (longer waits are a `pause`).
    pub const MAX_GAP: Duration = Duration::from_secs(5);
}

/// The `play` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Play {
    /// Prompt names (files in the prompts directory without extension).
    pub prompts: Vec<String>,
    /// A key press stops the playing; the key stays for the next step (`barge_in: true`; default false).
    pub barge_in: bool,
}

/// The `play` step on a recording (`play: {recording: '{message}', barge_in: true}`): a file in the
/// recordings directory, named as `record ... into` gives it or by its name, found when the step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayRecording {
    /// The recording (`recording`): the value `record`'s `into` received, or a name like
    /// `greeting-{mailbox}` (`.wav` added); only the file name counts, looked up in the recordings
    /// directory.
    pub recording: Template,
    /// A key press stops the playing; the key stays for the next step (`barge_in`, default false).
    pub barge_in: bool,
}

/// Why the dialplan ends a call; before the answer it picks the SIP status sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HangupReason {
    /// `normal`: BYE once answered, 480 Temporarily Unavailable before.
    #[default]
    Normal,
    /// `busy`: 486 Busy Here before the answer.
    Busy,
    /// `rejected`: 603 Decline before the answer.
    Rejected,
    /// `unavailable`: 503 Service Unavailable before the answer.
    Unavailable,
    /// `not_found`: 404 Not Found before the answer.
    NotFound,
}

impl HangupReason {
    const NAMES: &'static [&'static str] =
        &["normal", "busy", "rejected", "unavailable", "not_found"];

    /// The YAML name, also written to the call log.
    pub fn name(self) -> &'static str {
        match self {
            HangupReason::Normal => "normal",
            HangupReason::Busy => "busy",
            HangupReason::Rejected => "rejected",
            HangupReason::Unavailable => "unavailable",
            HangupReason::NotFound => "not_found",
        }
    }

    /// The final response to send when the call was not answered.
    pub fn status_before_answer(self) -> u16 {
        match self {
            HangupReason::Normal => 480,
            HangupReason::Busy => 486,
            HangupReason::Rejected => 603,
            HangupReason::Unavailable => 503,
            HangupReason::NotFound => 404,
        }
    }

    fn from_name(s: &str) -> Option<HangupReason> {
        Some(match s {
            "normal" => HangupReason::Normal,
            "busy" => HangupReason::Busy,
            "rejected" => HangupReason::Rejected,
            "unavailable" => HangupReason::Unavailable,
            "not_found" => HangupReason::NotFound,
            _ => return None,
        })
    }
}

/// The `collect` step; see [`crate::interpreter`] for its timing rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collect {
    /// Variable that receives the digits (`into`, required). Empty when every try failed.
    pub into: String,
    /// Prompts played at the start of each try, with barge-in (`prompt`).
    pub prompts: Vec<String>,
    /// Fewest digits accepted (`min`, default 1).
    pub min: usize,
    /// Most digits; the input ends as soon as this many are in (`max`, default 20).
    pub max: usize,
    /// Keys that end the input and are not part of it (`terminators`, default `#`; `""` for none).
    pub terminators: String,
    /// Wait for the first key, counted from the end of the prompt (`first_digit_timeout`, default 5s).
    pub first_digit_timeout: Duration,
    /// Wait for each further key, counted from the previous key (`digit_timeout`, default 3s).
    pub digit_timeout: Duration,
    /// Tries before giving up (`tries`, default 3).
    pub tries: u32,
    /// Played when a try gets no key at all (`no_input`).
    pub no_input: Vec<String>,
    /// Played when the input is too short or fails `pattern` (`invalid`).
    pub invalid: Vec<String>,
    /// The input must match this (anchored) regular expression (`pattern`).
    pub pattern: Option<Pattern>,
    /// Steps run when every try failed (`on_failure`, default: go on with the next step).
    pub on_failure: Vec<Step>,
}

/// A menu: a prompt, one key, and what each key does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Menu {
    /// Prompts played at the start of each try, with barge-in (`prompt`).
    pub prompts: Vec<String>,
    /// Wait for a key after the prompt (`timeout`, default 5s).
    pub timeout: Duration,
    /// Tries before giving up (`tries`, default 3).
    pub tries: u32,
    /// Played after a key that is not a choice (`invalid`).
    pub invalid: Vec<String>,
    /// Played after a try with no key (`no_input`).
    pub no_input: Vec<String>,
    /// Key to steps (`choices`).
    pub choices: Vec<(char, Vec<Step>)>,
    /// Steps run when every try failed (`on_failure`, default: hang up).
    pub on_failure: Option<Vec<Step>>,
}

/// The `record` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// File name without extension (`name`, default `{timestamp}-{route}`); unsafe characters become `_`.
    pub name: Template,
    /// Play the `beep` prompt first (`beep`, default true).
    pub beep: bool,
    /// Longest recording (`max`, default 60s).
    pub max: Duration,
    /// Keys that stop the recording (`terminators`, default `#`; `""` for none).
    pub terminators: String,
    /// Stop after this long of silence (`silence`, default: off).
    pub silence: Option<Duration>,
    /// Variable that receives the recording's file name, empty when it failed (`into`).
    pub into: Option<String>,
}

/// The `conference` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conference {
    /// The room's name (`room`, a template).
    pub room: Template,
    /// Options passed to the room.
    pub options: RoomOptions,
    /// Prompts played when the room is full (`full`).
    pub full: Vec<String>,
    /// The PIN asked before joining (`pin`, with `moderator_pin`, `pin_prompt`, `bad_pin`, `pin_tries`).
    pub pin: Option<PinCheck>,
}

/// The PIN a `conference` step asks for before the caller joins (FreeSWITCH's conference `pin` and
/// `moderator-pin`, Asterisk ConfBridge's `pin`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinCheck {
    /// The members' PIN (`pin`, keys, or a template such as `'{room_pin}'`; empty when expanded: no PIN
    /// is asked).
    pub pin: Template,
    /// A second PIN that joins the caller as a moderator (`moderator_pin`).
    pub moderator_pin: Option<Template>,
    /// Played at the start of each try, with barge-in (`pin_prompt`, default `enter-pin`).
    pub prompt: Vec<String>,
    /// Played after a wrong PIN or none (`bad_pin`, default `invalid`).
    pub bad_pin: Vec<String>,
    /// Tries before giving up (`pin_tries`, default 3); then `bad_pin` and the next step.
    pub tries: u32,
}

/// How a member joins a room; the room settings apply when the first member creates the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomOptions {
    /// The member is heard by nobody (`muted`, default false).
    pub muted: bool,
    /// A key that leaves the room and goes on with the next step (`exit_key`, default none).
    pub exit_key: Option<char>,
    /// Room setting: most members (`max_members`, default none).
    pub max_members: Option<u32>,
    /// Room setting: record the room's mix while it has members (`record`, default true).
    pub record: bool,
    /// Room setting: tones when members join and leave (`tones`, default true).
    pub tones: bool,
    /// Keys that toggle the member's mute (`mute_key`, 1 to 3 keys, default `*6`; empty: none).
    pub mute_key: String,
    /// The member is a moderator (`moderator`, default false).
    pub moderator: bool,
    /// Room setting: other members hear hold audio and are not mixed until a moderator is in the room
    /// (`wait_for_moderator`, default false).
    pub wait_for_moderator: bool,
    /// Room setting: when the last moderator leaves, the other members leave too
    /// (`end_with_moderator`, default false).
    pub end_with_moderator: bool,
    /// A prompt played in a loop while waiting for a moderator, instead of the hold tone
    /// (`hold_prompt`).
    pub hold_prompt: Option<String>,
    /// The member hears nothing of the room, and is still heard (`deaf`, default false).
    pub deaf: bool,
    /// How loud the others hear the member, in dB (`gain`, -24 to +18, default 0).
    pub gain_db: i32,
}

impl Default for RoomOptions {
    fn default() -> RoomOptions {
        RoomOptions {
            muted: false,
            exit_key: None,
            max_members: None,
            record: true,
            tones: true,
            mute_key: "*6".to_string(),
            moderator: false,
            wait_for_moderator: false,
            end_with_moderator: false,
            hold_prompt: None,
            deaf: false,
            gain_db: 0,
        }
    }
}

/// The `transfer` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Where to (`to`, a template; `sip:`, `sips:` or `tel:` URI).
    pub to: Template,
    /// How (`mode`, default `auto`).
    pub mode: TransferMode,
}

/// How a call is transferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// `auto`: redirect before the answer, REFER after.
    Auto,
    /// `redirect`: 302 Moved Temporarily with the target as Contact (only before the answer).
    Redirect,
    /// `refer`: REFER to the target in the dialog (only after the answer).
    Refer,
}

/// `if` / `then` / `else`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct If {
    /// The test.
    pub condition: Condition,
    /// Steps when it holds.
    pub then: Vec<Step>,
    /// Steps when it does not (default none).
    pub otherwise: Vec<Step>,
}

/// A test on the call's variables or the local time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `{var: x, equals: "1"}`.
    Equals(String, Template),
    /// `{var: x, matches: "[0-9]+"}` (anchored).
    Matches(String, Pattern),
    /// `{var: x, empty: true}`: the variable is unset or empty (`empty: false`: it has a value).
    Empty(String, bool),
    /// `{time: "Mon-Fri 09:00-17:00"}`: local time falls in one of the windows.
    Time(TimeWindows),
}

/// `switch` / `cases` / `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The variable compared.
    pub var: String,
    /// Value to steps, tried in order.
    pub cases: Vec<(String, Vec<Step>)>,
    /// Steps when no case matches (default none).
    pub default: Vec<Step>,
}

const STEP_NAMES: &[&str] = &[
    "answer",
    "progress",
    "ring",
    "play",
    "say_digits",
    "say_number",
    "echo",
    "echo_for",
    "pause",
    "hangup",
    "collect",
    "menu",
    "goto",
    "record",
    "conference",
    "set",
    "if",
    "switch",
    "transfer",
    "send_dtmf",
    "record_call",
];

/// DTMF keys.
pub const DTMF_KEYS: &str = "0123456789*#ABCD";

/// The pause characters `send_dtmf` takes between keys: `w` waits half a second, `W` a second (as in
/// Asterisk's SendDTMF and FreeSWITCH's send_dtmf).
pub const SEND_DTMF_PAUSES: &str = "wW";

/// Prompts `say_digits` needs.
pub const DIGIT_PROMPTS: &[&str] = &[
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "digit-star",
    "digit-pound",
];

/// Prompts `say_number` needs.
pub const NUMBER_PROMPTS: &[&str] = &[
    "number-0",
    "number-1",
    "number-2",
    "number-3",
    "number-4",
    "number-5",
    "number-6",
    "number-7",
    "number-8",
    "number-9",
    "number-10",
    "number-11",
    "number-12",
    "number-13",
    "number-14",
    "number-15",
    "number-16",
    "number-17",
    "number-18",
    "number-19",
    "number-20",
    "number-30",
    "number-40",
    "number-50",
    "number-60",
    "number-70",
    "number-80",
    "number-90",
    "number-hundred",
    "number-thousand",
    "number-million",
];

/// A reference checked once the whole file has been read.
struct Ref {
    name: String,
    at: Location,
}

/// A `menu:` or `goto:` step and the menu it is written in (None: in a route).
struct MenuRef {
    from: Option<String>,
    to: Ref,
    goto: bool,
}

struct Checker<'a> {
    file: &'a str,
    /// In a cell so lookups that report (`require`) need only `&self` inside `&mut self` calls.
    errors: std::cell::RefCell<Vec<Diagnostic>>,
    prompts: Vec<Ref>,
    vars_used: Vec<Ref>,
    vars_defined: HashSet<String>,
    menu_refs: Vec<MenuRef>,
    /// The menu whose steps are being read.
    in_menu: Option<String>,
}

/// Fields of a mapping, looked up by key; unknown and duplicate keys were already reported.
struct Fields<'n> {
    at: Location,
    map: Vec<(String, &'n Sp)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Sp> {
        self.map.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'a> Checker<'a> {
    fn err(&self, at: &Location, message: impl Into<String>) {
        self.errors.borrow_mut().push(Diagnostic {
            file: self.file.to_string(),
            line: at.line().max(1),
            column: at.column().max(1),
            message: message.into(),
        });
    }

    /// Checks `n` is a mapping whose keys are among `allowed`, reporting unknown ones with a suggestion.
    fn fields<'n>(&mut self, n: &'n Sp, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Node::Map(entries) = &n.value else {
            self.err(
                &n.referenced,
                format!("{what} must be a mapping, found {}", n.value.kind()),
            );
            return None;
        };
        let mut map: Vec<(String, &Sp)> = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.value.scalar_text() else {
                self.err(&k.referenced, format!("keys of {what} must be words"));
                continue;
            };
            if !allowed.is_empty() && !allowed.contains(&key.as_str()) {
                self.err(
                    &k.referenced,
                    format!(
                        "unknown key '{key}' in {what}{}",
                        hint(&key, allowed, "known keys")
                    ),
                );
                continue;
            }
            if map.iter().any(|(x, _)| *x == key) {
                self.err(&k.referenced, format!("duplicate key '{key}' in {what}"));
                continue;
            }
            map.push((key, v));
        }
        Some(Fields {
            at: n.referenced,
            map,
        })
    }

    fn require<'n>(&self, f: &Fields<'n>, key: &str, what: &str) -> Option<&'n Sp> {
        let v = f.get(key);
        if v.is_none() {
            self.err(&f.at, format!("{what} needs '{key}'"));
        }
        v
    }

    fn string(&mut self, n: &Sp, what: &str) -> Option<String> {
        match &n.value {
            Node::Str(s) => Some(s.clone()),
            Node::Int(_) | Node::Float(_) => n.value.scalar_text(),
            other => {
                self.err(
                    &n.referenced,
                    format!("{what} must be a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn template(&mut self, n: &Sp, what: &str) -> Option<Template> {
        let s = self.string(n, what)?;
        match Template::parse(&s) {
            Ok(t) => {
                for v in t.vars() {
                    self.vars_used.push(Ref {
                        name: v.to_string(),
                        at: n.referenced,
                    });
                }
                Some(t)
            }
            Err(m) => {
                self.err(&n.referenced, format!("{what}: {m}"));
                None
            }
        }
    }

    fn duration(&mut self, n: &Sp, what: &str) -> Option<Duration> {
        let text = match &n.value {
            Node::Str(s) => s.clone(),
            Node::Int(_) | Node::Float(_) => n.value.scalar_text().unwrap_or_default(),
            other => {
                self.err(
                    &n.referenced,
                    format!(
                        "{what} must be a duration like 5s or 500ms, found {}",
                        other.kind()
                    ),
                );
                return None;
            }
        };
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(m) => {
                self.err(&n.referenced, format!("{what}: {m}"));
                None
            }
        }
    }

    fn count(&mut self, n: &Sp, what: &str, min: i64, max: i64) -> Option<i64> {
        match n.value {
            Node::Int(i) if (min..=max).contains(&i) => Some(i),
            Node::Int(i) => {
                self.err(
                    &n.referenced,
                    format!("{what} must be between {min} and {max}, found {i}"),
                );
                None
            }
            ref other => {
                self.err(
                    &n.referenced,
                    format!("{what} must be a whole number, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, n: &Sp, what: &str) -> Option<bool> {
        match n.value {
            Node::Bool(b) => Some(b),
            ref other => {
                self.err(
                    &n.referenced,
                    format!("{what} must be true or false, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn var_name(&mut self, n: &Sp, what: &str) -> Option<String> {
        let s = self.string(n, what)?;
        if is_header_var(&s) {
            return Some(s);
        }
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.err(
                &n.referenced,
                format!("{what} '{s}' is not a variable name (letters, digits and _)"),
            );
            return None;
        }
        Some(s)
    }

    fn keys(&mut self, n: &Sp, what: &str) -> Option<String> {
        let s = self.string(n, what)?;
        if let Some(c) = s.chars().find(|c| !DTMF_KEYS.contains(*c)) {
            self.err(
                &n.referenced,
                format!("{what}: '{c}' is not a DTMF key (0-9, *, #, A-D)"),
            );
            return None;
        }
        Some(s)
    }

    /// One prompt name or a list of them.
    fn prompt_list(&mut self, n: &Sp, what: &str) -> Option<Vec<String>> {
        let items: Vec<&Sp> = match &n.value {
            Node::Seq(v) => v.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        for item in items {
            let name = self.string(item, what)?;
            self.prompts.push(Ref {
                name: name.clone(),
                at: item.referenced,
            });
            out.push(name);
        }
        if out.is_empty() {
            self.err(&n.referenced, format!("{what} needs at least one prompt"));
            return None;
        }
        Some(out)
    }

    fn optional<T>(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Self, &Sp) -> Option<T>,
    ) -> T {
        match f.get(key) {
            Some(n) => read(self, n).unwrap_or(default),
            None => default,
        }
    }

    /// A list of steps, or a single step.
    fn steps(&mut self, n: &Sp) -> Vec<Step> {
        match &n.value {
            Node::Seq(items) => items.iter().filter_map(|s| self.step(s)).collect(),
            Node::Null => Vec::new(),
            _ => self.step(n).into_iter().collect(),
        }
    }

    fn step(&mut self, n: &Sp) -> Option<Step> {
        let at = n.referenced;
        let (name, arg, entries): (String, Option<&Sp>, &[(Sp, Sp)]) = match &n.value {
            Node::Str(s) => (s.clone(), None, &[]),
            Node::Map(entries) if !entries.is_empty() => {
                let (k, v) = &entries[0];
                let Some(key) = k.value.scalar_text() else {
                    self.err(&k.referenced, "a step must start with its name");
                    return None;
                };
                (key, Some(v), entries.as_slice())
            }
            other => {
                self.err(
                    &at,
                    format!(
                        "a step must be a name like 'answer' or a mapping like 'play: hello', found {}",
                        other.kind()
                    ),
                );
                return None;
            }
        };
        if !STEP_NAMES.contains(&name.as_str()) {
            let where_ = entries.first().map(|(k, _)| k.referenced).unwrap_or(at);
            self.err(
                &where_,
                format!("unknown step '{name}'{}", hint(&name, STEP_NAMES, "steps")),
            );
            return None;
        }
        // Only `if` and `switch` take keys besides their own; every other step is a single-key mapping.
        let extra: &[&str] = match name.as_str() {
            "if" => &["then", "else"],
            "switch" => &["cases", "default"],
            _ => &[],
        };
        for (k, _) in entries.iter().skip(1) {
            let key = k.value.scalar_text().unwrap_or_default();
            if !extra.contains(&key.as_str()) {
                let msg = if extra.is_empty() {
                    format!(
                        "unexpected key '{key}' in step '{name}': options go under it, indented (e.g. '{name}:' then '  {key}: ...'){}",
                        if STEP_NAMES.contains(&key.as_str()) { "; or start a new step with '- '" } else { "" }
                    )
                } else {
                    format!(
                        "unknown key '{key}' in step '{name}'{}",
                        hint(&key, extra, "known keys")
                    )
                };
                self.err(&k.referenced, msg);
            }
        }
        let get = |key: &str| -> Option<&Sp> {
            entries
                .iter()
                .skip(1)
                .find(|(k, _)| k.value.scalar_text().as_deref() == Some(key))
                .map(|(_, v)| v)
        };
        let needs_arg = |this: &Self| -> Option<&Sp> {
            if arg.is_none() {
                this.err(
                    &at,
                    format!("step '{name}' needs a value, e.g. '{}'", example(&name)),
                );
            }
            arg
        };
        let arg_null = arg.is_none_or(|a| matches!(a.value, Node::Null));
        match name.as_str() {
            "answer" | "echo" if arg_null => Some(if name == "answer" {
                Step::Answer
            } else {
                Step::Echo(None)
            }),
            "answer" => {
                self.err(&at, "step 'answer' takes no value");
                None
            }
            "progress" if arg_null => Some(Step::Progress),
            "progress" => {
                self.err(&at, "step 'progress' takes no value");
                None
            }
            "echo" | "echo_for" => {
                let d = self.duration(needs_arg(self)?, &format!("{name} duration"))?;
                Some(Step::Echo(Some(d)))
            }
            "ring" => Some(Step::Ring(
                self.duration(needs_arg(self)?, "ring duration")?,
            )),
            "pause" => Some(Step::Pause(
                self.duration(needs_arg(self)?, "pause duration")?,
            )),
            "hangup" if arg_null => Some(Step::Hangup(HangupReason::Normal)),
            "hangup" => {
                let a = arg?;
                let s = self.string(a, "hangup reason")?;
                match HangupReason::from_name(&s) {
                    Some(r) => Some(Step::Hangup(r)),
                    None => {
                        self.err(
                            &a.referenced,
                            format!(
                                "unknown hangup reason '{s}'{}",
                                hint(&s, HangupReason::NAMES, "reasons")
                            ),
                        );
                        None
                    }
                }
            }
            "play" => {
                let a = needs_arg(self)?;
                if let Node::Map(_) = a.value {
                    let f = self.fields(a, "play", &["prompt", "recording", "barge_in"])?;
                    let barge_in =
                        self.optional(&f, "barge_in", false, |c, n| c.boolean(n, "barge_in"));
                    if let Some(r) = f.get("recording") {
                        if f.get("prompt").is_some() {
                            self.err(&f.at, "play takes 'prompt' or 'recording', not both");
                            return None;
                        }
                        let recording = self.template(r, "recording")?;
                        return Some(Step::PlayRecording(PlayRecording {
                            recording,
                            barge_in,
                        }));
                    }
                    let prompts = self.prompt_list(self.require(&f, "prompt", "play")?, "play")?;
                    Some(Step::Play(Play { prompts, barge_in }))
                } else {
                    let prompts = self.prompt_list(a, "play")?;
                    Some(Step::Play(Play {
                        prompts,
                        barge_in: false,
                    }))
                }
            }
            "say_digits" | "say_number" => {
                let a = needs_arg(self)?;
                let t = self.template(a, &name)?;
                let needed = if name == "say_digits" {
                    DIGIT_PROMPTS
                } else {
                    NUMBER_PROMPTS
                };
                for p in needed {
                    self.prompts.push(Ref {
                        name: p.to_string(),
                        at: a.referenced,
                    });
                }
                Some(if name == "say_digits" {
                    Step::SayDigits(t)
                } else {
                    Step::SayNumber(t)
                })
            }
            "menu" | "goto" => {
                let a = needs_arg(self)?;
                let target = self.string(a, &format!("{name} target"))?;
                self.menu_refs.push(MenuRef {
                    from: self.in_menu.clone(),
                    to: Ref {
                        name: target.clone(),
                        at: a.referenced,
                    },
                    goto: name == "goto",
                });
                Some(if name == "menu" {
                    Step::Menu(target)
                } else {
                    Step::Goto(target)
                })
            }
            "set" => {
                let a = needs_arg(self)?;
                let f = self.fields(a, "set", &[])?;
                let mut out = Vec::new();
                for (k, v) in &f.map {
                    let Some(t) = self.template(v, &format!("value of '{k}'")) else {
                        continue;
                    };
                    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        self.err(
                            &v.referenced,
                            format!("'{k}' is not a variable name (letters, digits and _)"),
                        );
                        continue;
                    }
                    self.vars_defined.insert(k.clone());
                    out.push((k.clone(), t));
                }
                Some(Step::Set(out))
            }
            "collect" => self.collect(needs_arg(self)?),
            "record" => self.record(arg, at),
            "record_call" => self.record_call(arg),
            "conference" => self.conference(needs_arg(self)?),
            "transfer" => self.transfer(needs_arg(self)?),
            "send_dtmf" => self.send_dtmf(needs_arg(self)?),
            "if" => {
                let condition = self.condition(needs_arg(self)?)?;
                let then = match get("then") {
                    Some(t) => self.steps(t),
                    None => {
                        self.err(&at, "'if' needs 'then' (the steps run when the test holds)");
                        return None;
                    }
                };
                let otherwise = get("else").map(|e| self.steps(e)).unwrap_or_default();
                Some(Step::If(Box::new(If {
                    condition,
                    then,
                    otherwise,
                })))
            }
            "switch" => {
                let a = needs_arg(self)?;
                let var = self.var_name(a, "switch variable")?;
                self.vars_used.push(Ref {
                    name: var.clone(),
                    at: a.referenced,
                });
                let Some(cases_node) = get("cases") else {
                    self.err(&at, "'switch' needs 'cases' (value: steps)");
                    return None;
                };
                let f = self.fields(cases_node, "cases", &[])?;
                let cases = f
                    .map
                    .iter()
                    .map(|(k, v)| (k.clone(), self.steps(v)))
                    .collect();
                let default = get("default").map(|d| self.steps(d)).unwrap_or_default();
                Some(Step::Switch(Box::new(Switch {
                    var,
                    cases,
                    default,
                })))
            }
            _ => {
                self.err(
                    &at,
                    format!("step '{name}' needs a value, e.g. '{}'", example(&name)),
                );
                None
            }
        }
    }

    fn collect(&mut self, n: &Sp) -> Option<Step> {
        const KEYS: &[&str] = &[
            "into",
            "prompt",
            "min",
            "max",
            "terminators",
            "first_digit_timeout",
            "digit_timeout",
            "tries",
            "no_input",
            "invalid",
            "pattern",
            "on_failure",
        ];
        let f = self.fields(n, "collect", KEYS)?;
        let into = self.var_name(self.require(&f, "into", "collect")?, "into")?;
        self.vars_defined.insert(into.clone());
        let prompts = self.optional(&f, "prompt", Vec::new(), |c, n| c.prompt_list(n, "prompt"));
        let min = self.optional(&f, "min", 1, |c, n| c.count(n, "min", 0, 64)) as usize;
        let max = self.optional(&f, "max", 20, |c, n| c.count(n, "max", 1, 64)) as usize;
        if min > max {
            self.err(
                &f.at,
                format!("collect: min ({min}) is more than max ({max})"),
            );
        }
        let terminators = self.optional(&f, "terminators", "#".to_string(), |c, n| {
            c.keys(n, "terminators")
        });
        let first_digit_timeout =
            self.optional(&f, "first_digit_timeout", Duration::from_secs(5), |c, n| {
                c.duration(n, "first_digit_timeout")
            });
        let digit_timeout = self.optional(&f, "digit_timeout", Duration::from_secs(3), |c, n| {
            c.duration(n, "digit_timeout")
        });
        let tries = self.optional(&f, "tries", 3, |c, n| c.count(n, "tries", 1, 20)) as u32;
        let no_input = self.optional(&f, "no_input", Vec::new(), |c, n| {
            c.prompt_list(n, "no_input")
        });
        let invalid = self.optional(&f, "invalid", Vec::new(), |c, n| {
            c.prompt_list(n, "invalid")
        });
        let pattern = f.get("pattern").and_then(|n| self.regex(n, "pattern"));
        let on_failure = f
            .get("on_failure")
            .map(|n| self.steps(n))
            .unwrap_or_default();
        Some(Step::Collect(Box::new(Collect {
            into,
            prompts,
            min,
            max,
            terminators,
            first_digit_timeout,
            digit_timeout,
            tries,
            no_input,
            invalid,
            pattern,
            on_failure,
        })))
    }

    fn regex(&mut self, n: &Sp, what: &str) -> Option<Pattern> {
        let s = self.string(n, what)?;
        match Regex::new(&format!("^(?:{s})$")) {
            Ok(r) => Some(Pattern(r)),
            Err(e) => {
                self.err(
                    &n.referenced,
                    format!("invalid {what}: {}", last_line(&e.to_string())),
                );
                None
            }
        }
    }

    fn record(&mut self, n: Option<&Sp>, step_at: Location) -> Option<Step> {
        const KEYS: &[&str] = &["name", "beep", "max", "terminators", "silence", "into"];
        let mut rec = Record {
            name: Template(vec![
                Part::Var("timestamp".into()),
                Part::Text("-".into()),
                Part::Var("route".into()),
            ]),
            beep: true,
            max: Duration::from_secs(60),
            terminators: "#".into(),
            silence: None,
            into: None,
        };
        if let Some(n) = n.filter(|n| !matches!(n.value, Node::Null)) {
            let f = self.fields(n, "record", KEYS)?;
            if let Some(v) = f.get("name") {
                rec.name = self.template(v, "name")?;
            }
            rec.beep = self.optional(&f, "beep", true, |c, n| c.boolean(n, "beep"));
            rec.max = self.optional(&f, "max", rec.max, |c, n| c.duration(n, "max"));
            rec.terminators = self.optional(&f, "terminators", rec.terminators.clone(), |c, n| {
                c.keys(n, "terminators")
            });
            rec.silence = f.get("silence").and_then(|n| self.duration(n, "silence"));
            if let Some(v) = f.get("into") {
                let name = self.var_name(v, "into")?;
                self.vars_defined.insert(name.clone());
                rec.into = Some(name);
            }
            if rec.max.is_zero() {
                self.err(&f.at, "record: max must be more than 0s");
            }
        }
        if rec.beep {
            self.prompts.push(Ref {
                name: "beep".into(),
                at: n.map(|n| n.referenced).unwrap_or(step_at),
            });
        }
        Some(Step::Record(Box::new(rec)))
    }

    fn record_call(&mut self, n: Option<&Sp>) -> Option<Step> {
        let mut rec = RecordCall {
            name: Template(vec![
                Part::Var("timestamp".into()),
                Part::Text("-".into()),
                Part::Var("route".into()),
                Part::Text("-call".into()),
            ]),
            into: None,
            stereo: false,
        };
        if let Some(n) = n.filter(|n| !matches!(n.value, Node::Null | Node::Map(_))) {
            let s = self.string(n, "record_call")?;
            return match s.as_str() {
                "mask" => Some(Step::RecordCallControl(RecordCallControl::Mask)),
                "unmask" => Some(Step::RecordCallControl(RecordCallControl::Unmask)),
                "stop" => Some(Step::RecordCallControl(RecordCallControl::Stop)),
                other => {
                    self.err(
                        &n.referenced,
                        format!(
                            "record_call: '{other}' is not mask, unmask or stop (to name the file, write record_call: {{name: '{other}'}})"
                        ),
                    );
                    None
                }
            };
        }
        if let Some(n) = n.filter(|n| !matches!(n.value, Node::Null)) {
            let f = self.fields(n, "record_call", &["name", "into", "stereo"])?;
            rec.stereo = self.optional(&f, "stereo", false, |c, n| c.boolean(n, "stereo"));
            if let Some(v) = f.get("name") {
                rec.name = self.template(v, "name")?;
            }
            if let Some(v) = f.get("into") {
                let name = self.var_name(v, "into")?;
                self.vars_defined.insert(name.clone());
                rec.into = Some(name);
            }
        }
        Some(Step::RecordCall(Box::new(rec)))
    }

    fn conference(&mut self, n: &Sp) -> Option<Step> {
        const KEYS: &[&str] = &[
            "room",
            "muted",
            "exit_key",
            "max_members",
            "record",
            "tones",
            "full",
            "mute_key",
            "moderator",
            "wait_for_moderator",
            "end_with_moderator",
            "hold_prompt",
            "pin",
            "moderator_pin",
            "pin_prompt",
            "bad_pin",
            "pin_tries",
            "deaf",
            "gain",
        ];
        if !matches!(n.value, Node::Map(_)) {
            let room = self.template(n, "conference room")?;
            return Some(Step::Conference(Box::new(Conference {
                room,
                options: RoomOptions::default(),
                full: Vec::new(),
                pin: None,
            })));
        }
        let f = self.fields(n, "conference", KEYS)?;
        let room = self.template(self.require(&f, "room", "conference")?, "room")?;
        let d = RoomOptions::default();
        let options = RoomOptions {
            muted: self.optional(&f, "muted", d.muted, |c, n| c.boolean(n, "muted")),
            exit_key: f.get("exit_key").and_then(|n| {
                let k = self.keys(n, "exit_key")?;
                if k.chars().count() != 1 {
                    self.err(&n.referenced, "exit_key must be one key");
                }
                k.chars().next()
            }),
            max_members: f
                .get("max_members")
                .and_then(|n| self.count(n, "max_members", 1, 10_000))
                .map(|v| v as u32),
            record: self.optional(&f, "record", d.record, |c, n| c.boolean(n, "record")),
            tones: self.optional(&f, "tones", d.tones, |c, n| c.boolean(n, "tones")),
            mute_key: match f.get("mute_key") {
                None => d.mute_key.clone(),
                Some(n) => {
                    let k = self.keys(n, "mute_key").unwrap_or_default();
                    if k.chars().count() > 3 {
                        self.err(
                            &n.referenced,
                            "mute_key must be 1 to 3 keys (or '' for none)",
                        );
                    }
                    k
                }
            },
            moderator: self.optional(&f, "moderator", d.moderator, |c, n| {
                c.boolean(n, "moderator")
            }),
            wait_for_moderator: self.optional(&f, "wait_for_moderator", false, |c, n| {
                c.boolean(n, "wait_for_moderator")
            }),
            end_with_moderator: self.optional(&f, "end_with_moderator", false, |c, n| {
                c.boolean(n, "end_with_moderator")
            }),
            hold_prompt: f.get("hold_prompt").and_then(|n| {
                let name = self.string(n, "hold_prompt")?;
                self.prompts.push(Ref {
                    name: name.clone(),
                    at: n.referenced,
                });
                Some(name)
            }),
            deaf: self.optional(&f, "deaf", d.deaf, |c, n| c.boolean(n, "deaf")),
            gain_db: self.optional(&f, "gain", 0, |c, n| c.count(n, "gain (dB)", -24, 18)) as i32,
        };
        if let (Some(k), false) = (options.exit_key, options.mute_key.is_empty()) {
            if options.mute_key.starts_with(k) {
                if let Some(n) = f.get("mute_key") {
                    self.err(
                        &n.referenced,
                        format!("mute_key '{}' starts with exit_key '{k}'", options.mute_key),
                    );
                }
            }
        }
        let full = self.optional(&f, "full", Vec::new(), |c, n| c.prompt_list(n, "full"));
        let pin = self.pin_check(&f);
        Some(Step::Conference(Box::new(Conference {
            room,
            options,
            full,
            pin,
        })))
    }

    /// The `pin` options of a `conference` step.
    fn pin_check(&mut self, f: &Fields<'_>) -> Option<PinCheck> {
        let Some(pin_node) = f.get("pin") else {
            for key in ["moderator_pin", "pin_prompt", "bad_pin", "pin_tries"] {
                if let Some(n) = f.get(key) {
                    self.err(&n.referenced, format!("conference: '{key}' needs 'pin'"));
                }
            }
            return None;
        };
        let pin = self.pin(pin_node, "pin");
        let moderator_pin = f
            .get("moderator_pin")
            .and_then(|n| self.pin(n, "moderator_pin"));
        let prompt = match f.get("pin_prompt") {
            Some(n) => self.prompt_list(n, "pin_prompt").unwrap_or_default(),
            None => self.default_prompt("enter-pin", pin_node),
        };
        let bad_pin = match f.get("bad_pin") {
            Some(n) => self.prompt_list(n, "bad_pin").unwrap_or_default(),
            None => self.default_prompt("invalid", pin_node),
        };
        let tries = self.optional(f, "pin_tries", 3, |c, n| c.count(n, "pin_tries", 1, 20)) as u32;
        Some(PinCheck {
            pin: pin?,
            moderator_pin,
            prompt,
            bad_pin,
            tries,
        })
    }

    /// A PIN: quoted keys (0-9 * A-D; `#` ends the input) or a template.
    fn pin(&mut self, n: &Sp, what: &str) -> Option<Template> {
        if matches!(n.value, Node::Int(_) | Node::Float(_)) {
            let text = n.value.scalar_text().unwrap_or_default();
            self.err(
                &n.referenced,
                format!("{what}: quote it ('{text}'), or leading zeros are lost"),
            );
            return None;
        }
        let t = self.template(n, what)?;
        if let [Part::Text(text)] = t.0.as_slice() {
            if let Some(c) = text.chars().find(|c| !DTMF_KEYS.contains(*c) || *c == '#') {
                self.err(
                    &n.referenced,
                    format!(
                        "{what}: '{c}' cannot be in a PIN (keys 0-9, *, A-D; # ends the input)"
                    ),
                );
                return None;
            }
            if text.chars().count() > 20 {
                self.err(&n.referenced, format!("{what}: at most 20 keys"));
                return None;
            }
        }
        Some(t)
    }

    /// A prompt the step plays by default, checked like one written at `at`.
    fn default_prompt(&mut self, name: &str, at: &Sp) -> Vec<String> {
        self.prompts.push(Ref {
            name: name.to_string(),
            at: at.referenced,
        });
        vec![name.to_string()]
    }

    fn send_dtmf(&mut self, n: &Sp) -> Option<Step> {
        let (digits_node, f) = if let Node::Map(_) = n.value {
            let f = self.fields(n, "send_dtmf", &["digits", "duration", "gap"])?;
            (self.require(&f, "digits", "send_dtmf")?, Some(f))
        } else {
            (n, None)
        };
        if let Node::Int(_) | Node::Float(_) = digits_node.value {
            self.err(
                &digits_node.referenced,
                "send_dtmf keys must be quoted, e.g. '0123#' (a bare number loses its leading zeros)",
            );
            return None;
        }
        let digits = self.template(digits_node, "send_dtmf")?;
        let mut ok = true;
        for part in &digits.0 {
            if let Part::Text(t) = part {
                if let Some(c) = t
                    .chars()
                    .find(|c| !DTMF_KEYS.contains(*c) && !SEND_DTMF_PAUSES.contains(*c))
                {
                    self.err(
                        &digits_node.referenced,
                        format!(
                            "send_dtmf: '{c}' is not a DTMF key (0-9, *, #, A-D) or a pause (w, W)"
                        ),
                    );
                    ok = false;
                    break;
                }
            }
        }
        if digits.0.is_empty() {
            self.err(&digits_node.referenced, "send_dtmf needs at least one key");
            ok = false;
        }
        let mut timing = |key: &str, default: Duration, max: Duration| -> Option<Duration> {
            let Some(node) = f.as_ref().and_then(|f| f.get(key)) else {
                return Some(default);
            };
            let d = self.duration(node, &format!("send_dtmf {key}"))?;
            if d < SendDtmf::MIN || d > max {
                self.err(
                    &node.referenced,
                    format!(
                        "send_dtmf {key} must be between {} and {}, found {}",
                        show_duration(SendDtmf::MIN),
                        show_duration(max),
                        show_duration(d)
                    ),
                );
                return None;
            }
            Some(d)
        };
        let duration = timing("duration", SendDtmf::DURATION, SendDtmf::MAX_DURATION);
        let gap = timing("gap", SendDtmf::GAP, SendDtmf::MAX_GAP);
        if !ok {
            return None;
        }
        Some(Step::SendDtmf(SendDtmf {
            digits,
            duration: duration?,
            gap: gap?,
        }))
    }

    fn transfer(&mut self, n: &Sp) -> Option<Step> {
        let (to_node, mode) = if let Node::Map(_) = n.value {
            let f = self.fields(n, "transfer", &["to", "mode"])?;
            let to = self.require(&f, "to", "transfer")?;
            let mode = match f.get("mode") {
                None => TransferMode::Auto,
                Some(m) => match self.string(m, "mode")?.as_str() {
                    "auto" => TransferMode::Auto,
                    "redirect" => TransferMode::Redirect,
                    "refer" => TransferMode::Refer,
                    other => {
                        let names = ["auto", "redirect", "refer"];
                        self.err(
                            &m.referenced,
                            format!(
                                "unknown transfer mode '{other}'{}",
                                hint(other, &names, "modes")
                            ),
                        );
                        return None;
                    }
                },
            };
            (to, mode)
        } else {
            (n, TransferMode::Auto)
        };
        let to = self.template(to_node, "transfer target")?;
        let first = match to.0.first() {
            Some(Part::Text(t)) => t.to_ascii_lowercase(),
            _ => String::new(),
        };
        if !["sip:", "sips:", "tel:"]
            .iter()
            .any(|s| first.starts_with(s))
        {
            self.err(
                &to_node.referenced,
                "transfer target must be a URI starting with sip:, sips: or tel:",
            );
            return None;
        }
        Some(Step::Transfer(Transfer { to, mode }))
    }

    fn condition(&mut self, n: &Sp) -> Option<Condition> {
        let f = self.fields(n, "if", &["var", "equals", "matches", "empty", "time"])?;
        if let Some(t) = f.get("time") {
            if f.map.len() > 1 {
                self.err(&f.at, "a time test stands alone: write 'if: {time: ...}'");
                return None;
            }
            let specs: Vec<&Sp> = match &t.value {
                Node::Seq(v) => v.iter().collect(),
                _ => vec![t],
            };
            let mut text = Vec::new();
            for s in specs {
                text.push(self.string(s, "time")?);
            }
            return match TimeWindows::parse(&text) {
                Ok(w) => Some(Condition::Time(w)),
                Err(m) => {
                    self.err(&t.referenced, m);
                    None
                }
            };
        }
        let Some(v) = f.get("var") else {
            self.err(
                &f.at,
                "if needs 'var' (with equals, matches or empty) or 'time'",
            );
            return None;
        };
        let var = self.var_name(v, "var")?;
        self.vars_used.push(Ref {
            name: var.clone(),
            at: v.referenced,
        });
        let tests = ["equals", "matches", "empty"];
        let given: Vec<&str> = tests
            .iter()
            .copied()
            .filter(|t| f.get(t).is_some())
            .collect();
        if given.len() != 1 {
            self.err(
                &f.at,
                "if on a variable needs exactly one of 'equals', 'matches', 'empty'",
            );
            return None;
        }
        let n = f.get(given[0])?;
        match given[0] {
            "equals" => Some(Condition::Equals(var, self.template(n, "equals")?)),
            "matches" => Some(Condition::Matches(var, self.regex(n, "matches")?)),
            _ => Some(Condition::Empty(var, self.boolean(n, "empty")?)),
        }
    }

    fn menu(&mut self, name: &str, n: &Sp) -> Option<Menu> {
        const KEYS: &[&str] = &[
            "prompt",
            "timeout",
            "tries",
            "invalid",
            "no_input",
            "choices",
            "on_failure",
        ];
        let f = self.fields(n, &format!("menu '{name}'"), KEYS)?;
        self.in_menu = Some(name.to_string());
        let prompts = self.optional(&f, "prompt", Vec::new(), |c, n| c.prompt_list(n, "prompt"));
        let timeout = self.optional(&f, "timeout", Duration::from_secs(5), |c, n| {
            c.duration(n, "timeout")
        });
        if timeout < Duration::from_millis(100) {
            self.err(
                &f.at,
                format!("menu '{name}': timeout must be at least 100ms"),
            );
        }
        let tries = self.optional(&f, "tries", 3, |c, n| c.count(n, "tries", 1, 20)) as u32;
        let invalid = self.optional(&f, "invalid", Vec::new(), |c, n| {
            c.prompt_list(n, "invalid")
        });
        let no_input = self.optional(&f, "no_input", Vec::new(), |c, n| {
            c.prompt_list(n, "no_input")
        });
        let mut choices = Vec::new();
        if let Some(c) = self.require(&f, "choices", &format!("menu '{name}'")) {
            if let Some(cf) = self.fields(c, "choices", &[]) {
                for (key, steps) in &cf.map {
                    let mut chars = key.chars();
                    match (chars.next(), chars.next()) {
                        (Some(k), None) if DTMF_KEYS.contains(k) => {
                            choices.push((k, self.steps(steps)));
                        }
                        _ => self.err(
                            &steps.referenced,
                            format!("menu choice '{key}' must be one key (0-9, *, #, A-D); quote * and #"),
                        ),
                    }
                }
            }
        }
        let on_failure = f.get("on_failure").map(|n| self.steps(n));
        self.in_menu = None;
        Some(Menu {
            prompts,
            timeout,
            tries,
            invalid,
            no_input,
            choices,
            on_failure,
        })
    }
}

fn hint(word: &str, candidates: &[&str], what: &str) -> String {
    let s = did_you_mean(word, candidates);
    if s.is_empty() && candidates.len() <= 12 {
        format!("; {what}: {}", candidates.join(", "))
    } else {
        s
    }
}

fn example(step: &str) -> &'static str {
    match step {
        "ring" => "ring: 2s",
        "pause" => "pause: 1s",
        "echo_for" => "echo_for: 10s",
        "play" => "play: hello",
        "say_digits" => "say_digits: \"{account}\"",
        "say_number" => "say_number: \"{amount}\"",
        "menu" => "menu: main",
        "goto" => "goto: main",
        "set" => "set: {lang: en}",
        "collect" => "collect: {into: pin, max: 4}",
        "conference" => "conference: \"{room}\"",
        "transfer" => "transfer: sip:desk@example.com",
        "send_dtmf" => "send_dtmf: \"1234#\"",
        "if" => "if: {var: x, equals: \"1\"}",
        "switch" => "switch: choice",
        _ => "",
    }
}

impl Dialplan {
    /// Reads and checks a dialplan file. With `prompts_dir`, every prompt it names must exist there.
    pub fn load(path: &Path, prompts_dir: Option<&Path>) -> Result<Dialplan, Vec<Diagnostic>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic {
                file: file.clone(),
                line: 1,
                column: 1,
                message: format!("cannot read file: {e}"),
            }]
        })?;
        Dialplan::parse(&file, &text, prompts_dir)
    }

    /// Checks dialplan text; `file` names it in diagnostics. Returns every problem found, not only the first.
    pub fn parse(
        file: &str,
        text: &str,
        prompts_dir: Option<&Path>,
    ) -> Result<Dialplan, Vec<Diagnostic>> {
        // YAML 1.2 booleans only: `n`, `no`, `yes`, `off` stay words (a variable named `n`, `equals: no`).
        let options = serde_saphyr::options! { strict_booleans: true };
        let root: Sp = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            vec![Diagnostic {
                file: file.to_string(),
                line: line.max(1),
                column: column.max(1),
                message: format!("invalid yaml: {}", first_line(&e.to_string())),
            }]
        })?;
        let mut c = Checker {
            file,
            errors: Default::default(),
            prompts: Vec::new(),
            vars_used: Vec::new(),
            vars_defined: BUILTIN_VARS.iter().map(|s| s.to_string()).collect(),
            menu_refs: Vec::new(),
            in_menu: None,
        };
        let Some(top) = c.fields(
            &root,
            "the dialplan",
            &["routes", "menus", "utc_offset", "timezone"],
        ) else {
            return Err(c.errors.into_inner());
        };
        let utc_offset_minutes = match top.get("utc_offset") {
            Some(n) => c
                .string(n, "utc_offset")
                .and_then(|s| match crate::time::parse_utc_offset(&s) {
                    Ok(m) => Some(m),
                    Err(m) => {
                        c.err(&n.referenced, m);
                        None
                    }
                })
                .unwrap_or(0),
            None => 0,
        };
        let mut clock = crate::time::Clock::Offset(utc_offset_minutes);
        if let Some(n) = top.get("timezone") {
            if top.get("utc_offset").is_some() {
                c.err(
                    &n.referenced,
                    "give either 'timezone' or 'utc_offset', not both",
                );
            } else if let Some(name) = c.string(n, "timezone") {
                match crate::time::Clock::zone(&name) {
                    Ok(zone) => clock = zone,
                    Err(m) => c.err(&n.referenced, m),
                }
            }
        }
        let mut menus = BTreeMap::new();
        let mut menu_at: HashMap<String, Location> = HashMap::new();
        if let Some(m) = top.get("menus") {
            if let Some(mf) = c.fields(m, "menus", &[]) {
                for (name, node) in &mf.map {
                    menu_at.insert(name.clone(), node.referenced);
                    if let Some(menu) = c.menu(name, node) {
                        menus.insert(name.clone(), menu);
                    }
                }
            }
        }
        let mut routes = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        match top.get("routes") {
            None => c.err(&root.referenced, "the dialplan needs 'routes'"),
            Some(Sp {
                value: Node::Seq(items),
                ..
            }) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = c.route(i, item, &mut names) {
                        routes.push(r);
                    }
                }
            }
            Some(other) => c.err(
                &other.referenced,
                format!("routes must be a list, found {}", other.value.kind()),
            ),
        }
        check_refs(&mut c, &menus, &menu_at, prompts_dir);
        let mut errors = c.errors.into_inner();
        if !errors.is_empty() {
            errors.sort_by_key(|d| (d.line, d.column));
            errors.dedup();
            return Err(errors);
        }
        let shared = Arc::new(Shared { menus, clock });
        let routes = routes
            .into_iter()
            .map(|(name, pattern, steps)| Route {
                name,
                pattern,
                steps,
                shared: shared.clone(),
            })
            .collect();
        Ok(Dialplan { routes, shared })
    }

    /// The first route whose pattern matches `user`, with its named captures as variables.
    pub fn route(&self, user: &str) -> Option<(&Route, HashMap<String, String>)> {
        let (i, vars) = self.find(user)?;
        Some((&self.routes[i], vars))
    }

    /// Like [`Dialplan::route`], giving the route's index in [`Dialplan::routes`].
    pub fn find(&self, user: &str) -> Option<(usize, HashMap<String, String>)> {
        self.routes.iter().enumerate().find_map(|(i, r)| {
            let caps = r.pattern.captures(user)?;
            let vars = r
                .pattern
                .capture_names()
                .flatten()
                .filter_map(|n| Some((n.to_string(), caps.name(n)?.as_str().to_string())))
                .collect();
            Some((i, vars))
        })
    }

    /// Every prompt name the plan can play, for loading them before calls arrive.
    pub fn prompt_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.routes {
            collect_prompts(&r.steps, &mut out);
        }
        for m in self.shared.menus.values() {
            out.extend(
                m.prompts
                    .iter()
                    .chain(&m.invalid)
                    .chain(&m.no_input)
                    .map(String::as_str),
            );
            for (_, steps) in &m.choices {
                collect_prompts(steps, &mut out);
            }
            if let Some(f) = &m.on_failure {
                collect_prompts(f, &mut out);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn collect_prompts<'a>(steps: &'a [Step], out: &mut Vec<&'a str>) {
    for s in steps {
        match s {
            Step::Play(p) => out.extend(p.prompts.iter().map(String::as_str)),
            Step::SayDigits(_) => out.extend(DIGIT_PROMPTS.iter().copied()),
            Step::SayNumber(_) => out.extend(NUMBER_PROMPTS.iter().copied()),
            Step::Collect(c) => {
                out.extend(
                    c.prompts
                        .iter()
                        .chain(&c.no_input)
                        .chain(&c.invalid)
                        .map(String::as_str),
                );
                collect_prompts(&c.on_failure, out);
            }
            Step::Record(r) if r.beep => out.push("beep"),
            Step::Conference(c) => {
                out.extend(c.full.iter().map(String::as_str));
                if let Some(p) = &c.pin {
                    out.extend(p.prompt.iter().chain(&p.bad_pin).map(String::as_str));
                }
            }
            Step::If(i) => {
                collect_prompts(&i.then, out);
                collect_prompts(&i.otherwise, out);
            }
            Step::Switch(s) => {
                for (_, steps) in &s.cases {
                    collect_prompts(steps, out);
                }
                collect_prompts(&s.default, out);
            }
            _ => {}
        }
    }
}

impl Checker<'_> {
    fn route(
        &mut self,
        i: usize,
        n: &Sp,
        names: &mut HashSet<String>,
    ) -> Option<(String, Regex, Vec<Step>)> {
        let f = self.fields(n, "route", &["name", "match", "steps"])?;
        let name = match f.get("name") {
            Some(v) => self.string(v, "name")?,
            None => format!("route{}", i + 1),
        };
        if !names.insert(name.clone()) {
            self.err(&n.referenced, format!("duplicate route name '{name}'"));
        }
        let pattern = self
            .require(&f, "match", &format!("route '{name}'"))
            .and_then(|p| {
                let s = self.string(p, "match")?;
                match Regex::new(&format!("^(?:{s})$")) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.err(
                            &p.referenced,
                            format!("invalid match pattern: {}", last_line(&e.to_string())),
                        );
                        None
                    }
                }
            });
        if let Some(p) = &pattern {
            for cap in p.capture_names().flatten() {
                self.vars_defined.insert(cap.to_string());
            }
        }
        let steps = match self.require(&f, "steps", &format!("route '{name}'")) {
            Some(s) => self.steps(s),
            None => Vec::new(),
        };
        Some((name, pattern?, steps))
    }
}

/// Checks what could only be checked once the whole file was read: menus, variables, prompt files, loops.
fn check_refs(
    c: &mut Checker<'_>,
    menus: &BTreeMap<String, Menu>,
    menu_at: &HashMap<String, Location>,
    prompts_dir: Option<&Path>,
) {
    let names: Vec<&str> = menu_at.keys().map(String::as_str).collect();
    let refs = std::mem::take(&mut c.menu_refs);
    for r in &refs {
        if !menu_at.contains_key(&r.to.name) {
            let msg = format!(
                "undefined menu '{}'{}",
                r.to.name,
                did_you_mean(&r.to.name, &names)
            );
            c.err(&r.to.at, msg);
        }
    }
    // `menu:` runs a menu and comes back, so a menu that reaches itself through `menu:` steps would nest
    // without end; `goto` is the way back to a menu.
    for r in refs.iter().filter(|r| !r.goto) {
        let Some(from) = &r.from else { continue };
        let mut stack = vec![r.to.name.as_str()];
        let mut seen = HashSet::new();
        while let Some(m) = stack.pop() {
            if m == from {
                c.err(
                    &r.to.at,
                    format!("menu '{from}' runs itself through 'menu: {}'; use 'goto: {}' to go back to a menu", r.to.name, r.to.name),
                );
                break;
            }
            if seen.insert(m) {
                stack.extend(
                    refs.iter()
                        .filter(|x| !x.goto && x.from.as_deref() == Some(m))
                        .map(|x| x.to.name.as_str()),
                );
            }
        }
    }
    // A caller who presses nothing must eventually be hung up on: following each menu's on_failure goto
    // must not come back round.
    for (name, at) in menu_at {
        let mut cur = name.as_str();
        let mut seen = HashSet::new();
        while let Some(next) = menus.get(cur).and_then(failure_goto) {
            if !seen.insert(cur) {
                break;
            }
            if next == name {
                c.err(
                    at,
                    format!("menu '{name}' loops forever when the caller presses nothing: its on_failure leads back to it; end it with hangup"),
                );
                break;
            }
            cur = next;
        }
    }
    let defined: Vec<String> = c.vars_defined.iter().cloned().collect();
    let defined_refs: Vec<&str> = defined.iter().map(String::as_str).collect();
    for r in std::mem::take(&mut c.vars_used) {
        if !c.vars_defined.contains(&r.name) && !is_header_var(&r.name) {
            let msg = format!(
                "undefined variable '{}'{} (variables come from match captures, set, collect and record, or are one of {})",
                r.name,
                did_you_mean(&r.name, &defined_refs),
                BUILTIN_VARS.join(", ")
            );
            c.err(&r.at, msg);
        }
    }
    if let Some(dir) = prompts_dir {
        let mut reported = HashSet::new();
        for r in std::mem::take(&mut c.prompts) {
            if crate::prompt::find_prompt(dir, &r.name).is_none() && reported.insert(r.name.clone())
            {
                c.err(
                    &r.at,
                    format!("prompt '{}' not found in {}", r.name, dir.display()),
                );
            }
        }
    }
}

/// The menu a menu's on_failure ends in with a goto, if it does.
fn failure_goto(m: &Menu) -> Option<&str> {
    match m.on_failure.as_ref()?.last()? {
        Step::Goto(t) => Some(t),
        _ => None,
    }
}

/// The first line of a parser message, without the `error: line L column C:` the diagnostic already says.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match Regex::new(r"^line \d+ column \d+: ") {
        Ok(re) => re.replace(line, "").into_owned(),
        Err(_) => line.to_string(),
    }
}

/// The last line of a regex error ("error: unclosed group"), without its `error: `.
fn last_line(s: &str) -> String {
    let line = s
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// A duration as a dialplan writes it: `40ms`, `1s`, `1500ms`.
fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Parses `500ms`, `5s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (write e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit '{other}' in '{s}' (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration '{s}' out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests;
