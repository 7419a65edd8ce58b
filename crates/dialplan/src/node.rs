//! A YAML document as a tree of positioned nodes. The dialplan checker walks this tree itself (rather than
//! deriving serde types) so it can report every problem at once, with a position and a did-you-mean.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A node with the position (1-based line and column) it was written at.
pub(crate) type Sp = Spanned<Node>;

/// One YAML node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Sp>),
    Map(Vec<(Sp, Sp)>),
}

impl Node {
    /// What kind of node this is, for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar (numbers and booleans as written in canonical form), `None` for lists and maps.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Null => None,
            Node::Seq(_) | Node::Map(_) => None,
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Sp>()? {
            out.push(item);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<Sp>()? {
            let value = map.next_value::<Sp>()?;
            out.push((key, value));
        }
        Ok(Node::Map(out))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment), for did-you-mean
/// suggestions; inputs are short keys.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word` when it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    // Words from other systems first: `max_digits` for `max`, `inter_digit_timeout` for `digit_timeout`.
    let structural = candidates
        .iter()
        .find(|c| {
            c.len() >= 3
                && (word.split('_').any(|part| part == **c)
                    || word.ends_with(&format!("_{c}"))
                    || word.starts_with(&format!("{c}_")))
        })
        .copied();
    structural.or_else(|| {
        candidates
            .iter()
            .map(|c| (distance(&word, c), *c))
            .filter(|(d, c)| *d <= (c.len() / 3).max(1) || (c.len() > 3 && c.starts_with(&word)))
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    })
}

/// ` (did you mean 'x'?)` or nothing.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("plya", &["play", "pause", "hangup"]), Some("play"));
        assert_eq!(
            suggest("hangpu", &["play", "pause", "hangup"]),
            Some("hangup")
        );
        assert_eq!(suggest("zzz", &["play", "pause"]), None);
        assert_eq!(suggest("tiemout", &["timeout", "tries"]), Some("timeout"));
        assert_eq!(suggest("max_digits", &["min", "max"]), Some("max"));
        assert_eq!(
            suggest(
                "inter_digit_timeout",
                &["first_digit_timeout", "digit_timeout"]
            ),
            Some("digit_timeout")
        );
    }

    #[test]
    fn nodes_keep_positions() {
        let n: Sp = serde_saphyr::from_str("a:\n  - 1\n  - x: [y]\n2: true\n").unwrap();
        let Node::Map(m) = &n.value else {
            panic!("{n:?}")
        };
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[1].0.referenced.line(), m[1].0.referenced.column()),
            (4, 1)
        );
        let Node::Seq(s) = &m[0].1.value else {
            panic!()
        };
        assert_eq!(s[1].referenced.line(), 3);
        assert!(matches!(m[1].0.value, Node::Int(2)));
    }
}
