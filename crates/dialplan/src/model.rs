//! The dialplan model and its loader: YAML (via serde-saphyr, which is panic-free and reports positions)
//! to checked routes and steps. Every error carries the file, line and column it points at.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_saphyr::Spanned;

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

/// A checked dialplan: routes in the order they are tried.
#[derive(Clone, Debug)]
pub struct Dialplan {
    /// Routes; the first whose pattern matches the Request-URI user wins.
    pub routes: Vec<Route>,
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
}

/// What a call does, one step at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Answer the call (200 OK). Media steps answer first by themselves when this is left out.
    Answer,
    /// Send 180 Ringing and wait this long before the next step.
    Ring(Duration),
    /// Play prompts (names of files in the prompts directory, without extension), one after another.
    Play(Vec<String>),
    /// Send back what the caller sends, until the caller hangs up or for at most this long.
    Echo(Option<Duration>),
    /// Keep the line open in silence.
    Pause(Duration),
    /// End the call (BYE once answered, 480 before).
    Hangup,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    routes: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: Option<String>,
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawStep {
    Answer,
    Ring(Spanned<String>),
    Play(OneOrMany),
    Echo,
    #[serde(rename = "echo_for")]
    EchoFor(Spanned<String>),
    Pause(Spanned<String>),
    Hangup,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
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
        let raw: RawPlan = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            vec![Diagnostic {
                file: file.to_string(),
                line,
                column,
                message: first_line(&e.to_string()),
            }]
        })?;
        let mut errors = Vec::new();
        let mut routes = Vec::new();
        let mut names: HashMap<String, ()> = HashMap::new();
        for (i, route) in raw.routes.into_iter().enumerate() {
            let at = |loc: &serde_saphyr::Location, message: String| Diagnostic {
                file: file.to_string(),
                line: loc.line(),
                column: loc.column(),
                message,
            };
            let r = route.value;
            let pattern = match Regex::new(&format!("^(?:{})$", r.pattern.value)) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(at(
                        &r.pattern.referenced,
                        format!("invalid match pattern: {}", first_line(&e.to_string())),
                    ));
                    None
                }
            };
            let name = r.name.unwrap_or_else(|| format!("route{}", i + 1));
            if names.insert(name.clone(), ()).is_some() {
                errors.push(at(
                    &route.referenced,
                    format!("duplicate route name '{name}'"),
                ));
            }
            let mut steps = Vec::new();
            for step in r.steps {
                let s = match step.value {
                    RawStep::Answer => Ok(Step::Answer),
                    RawStep::Hangup => Ok(Step::Hangup),
                    RawStep::Echo => Ok(Step::Echo(None)),
                    RawStep::EchoFor(d) => parse_duration(&d.value)
                        .map(|d| Step::Echo(Some(d)))
                        .map_err(|m| at(&d.referenced, m)),
                    RawStep::Ring(d) => parse_duration(&d.value)
                        .map(Step::Ring)
                        .map_err(|m| at(&d.referenced, m)),
                    RawStep::Pause(d) => parse_duration(&d.value)
                        .map(Step::Pause)
                        .map_err(|m| at(&d.referenced, m)),
                    RawStep::Play(p) => {
                        let names = match p {
                            OneOrMany::One(n) => vec![n],
                            OneOrMany::Many(v) => v,
                        };
                        let missing: Vec<&String> = match prompts_dir {
                            Some(dir) => names
                                .iter()
                                .filter(|n| crate::prompt::find_prompt(dir, n).is_none())
                                .collect(),
                            None => Vec::new(),
                        };
                        if names.is_empty() {
                            Err(at(
                                &step.referenced,
                                "play needs at least one prompt".into(),
                            ))
                        } else if let Some(m) = missing.first() {
                            Err(at(
                                &step.referenced,
                                format!("prompt '{m}' not found in the prompts directory"),
                            ))
                        } else {
                            Ok(Step::Play(names))
                        }
                    }
                };
                match s {
                    Ok(s) => steps.push(s),
                    Err(d) => errors.push(d),
                }
            }
            if let Some(pattern) = pattern {
                routes.push(Route {
                    name,
                    pattern,
                    steps,
                });
            }
        }
        if errors.is_empty() {
            Ok(Dialplan { routes })
        } else {
            Err(errors)
        }
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

    /// Every prompt name the plan plays, for loading them before calls arrive.
    pub fn prompt_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .routes
            .iter()
            .flat_map(|r| r.steps.iter())
            .filter_map(|s| match s {
                Step::Play(names) => Some(names.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
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
mod tests {
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
                Step::Play(vec!["hello".into(), "hello".into()]),
                Step::Pause(Duration::from_secs(1)),
                Step::Hangup
            ]
        );
        assert!(plan.route("echo2").is_none());
        assert!(plan.route("xecho").is_none());
        assert_eq!(
            plan.route("echo").unwrap().0.steps,
            vec![Step::Answer, Step::Echo(None)]
        );
    }

    #[test]
    fn errors_point_at_the_yaml() {
        let bad = "routes:\n  - name: a\n    match: '('\n    steps:\n      - ring: 5 parsecs\n      - plya: x\n";
        let errs = Dialplan::parse("bad.yaml", bad, None).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text[0].starts_with("bad.yaml:"), "{text:?}");
        assert!(text.iter().any(|t| t.contains("plya")), "{text:?}");

        let bad_dur = "routes:\n  - match: a\n    steps:\n      - ring: 5 parsecs\n";
        let errs = Dialplan::parse("d.yaml", bad_dur, None).unwrap_err();
        assert_eq!(errs[0].line, 4, "{errs:?}");
        assert!(
            errs[0].message.contains("invalid duration unit"),
            "{errs:?}"
        );

        let bad_re =
            "routes:\n  - match: '('\n    steps: [answer]\n  - match: ')'\n    steps: [answer]\n";
        let errs = Dialplan::parse("r.yaml", bad_re, None).unwrap_err();
        assert_eq!(errs.len(), 2, "all errors reported: {errs:?}");
        assert_eq!((errs[0].line, errs[1].line), (2, 4), "{errs:?}");
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
}
