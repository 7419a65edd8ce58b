//! SIP and SIPS URIs (RFC 3261 §19.1): just enough structure to route on the user part and reach the host.

use std::fmt;

use crate::error::ParseError;

/// A parsed SIP URI. The original text is kept so that a URI is re-sent exactly as the peer wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    raw: String,
    scheme: Scheme,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
}

/// The URI scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966); the number is reported as the user part.
    Tel,
}

impl Uri {
    /// Parses a URI such as `sip:alice@example.com:5070;transport=tcp`.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let s = s.trim();
        let (scheme_str, rest) = s
            .split_once(':')
            .ok_or(ParseError::BadUri("missing scheme"))?;
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Err(ParseError::BadUri("unsupported scheme"));
        };
        if rest.is_empty() {
            return Err(ParseError::BadUri("empty uri"));
        }
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(ParseError::BadUri("invalid character"));
        }
        if scheme == Scheme::Tel {
            let (number, params) = split_params(rest);
            return Ok(Uri {
                raw: s.to_string(),
                scheme,
                user: Some(unescape(number)),
                host: String::new(),
                port: None,
                params,
            });
        }
        let (user, hostport_params) = match rest.find('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                if user.is_empty() {
                    return Err(ParseError::BadUri("empty user"));
                }
                (Some(unescape(user)), &rest[at + 1..])
            }
            None => (None, rest),
        };
        // Headers (`?a=b`) follow the parameters; they play no part in routing.
        let hostport_params = hostport_params
            .split_once('?')
            .map_or(hostport_params, |(a, _)| a);
        let (hostport, params) = split_params(hostport_params);
        let (host, port) = split_host_port(hostport)?;
        Ok(Uri {
            raw: s.to_string(),
            scheme,
            user,
            host: host.to_string(),
            port,
            params,
        })
    }

    /// Builds `sip:user@host:port`.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        let host_text = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let mut raw = String::from("sip:");
        if let Some(u) = user {
            raw.push_str(u);
            raw.push('@');
        }
        raw.push_str(&host_text);
        if let Some(p) = port {
            raw.push(':');
            raw.push_str(&p.to_string());
        }
        Uri {
            raw,
            scheme: Scheme::Sip,
            user: user.map(str::to_string),
            host: host_text,
            port,
            params: Vec::new(),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The user part, percent-decoded (for `tel:` the number).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    /// The host as written (IPv6 references keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// A URI parameter by name (case-insensitive); `Some(None)` for a flag such as `;lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    /// The URI exactly as it was written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits `host:port` where host may be an `[IPv6]` reference.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, Option<u16>), ParseError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseError::BadUri("empty host"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or(ParseError::BadUri("unclosed ipv6"))?;
        let host = &s[..end + 2];
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(ParseError::BadUri("junk after ipv6 reference")),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
    {
        return Err(ParseError::BadUri("invalid host"));
    }
    let port = match port {
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .map_err(|_| ParseError::BadUri("invalid port"))?,
        ),
        None => None,
    };
    Ok((host, port))
}

fn split_params(s: &str) -> (&str, Vec<(String, Option<String>)>) {
    let mut parts = s.split(';');
    let head = parts.next().unwrap_or_default();
    let params = parts
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (p.trim().to_string(), None),
        })
        .collect();
    (head, params)
}

/// Percent-decodes `%XX` escapes; malformed escapes are kept as written.
fn unescape(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let u = Uri::parse("sip:echo@127.0.0.1:5060;transport=udp").unwrap();
        assert_eq!(u.user(), Some("echo"));
        assert_eq!(u.host(), "127.0.0.1");
        assert_eq!(u.port(), Some(5060));
        assert_eq!(u.param("transport"), Some(Some("udp")));

        let u = Uri::parse("sips:[2001:db8::10]:5061;lr").unwrap();
        assert_eq!(u.host(), "[2001:db8::10]");
        assert_eq!(u.port(), Some(5061));
        assert_eq!(u.param("lr"), Some(None));

        let u = Uri::parse("sip:%61lice@atlanta.com").unwrap();
        assert_eq!(u.user(), Some("alice"));

        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u@example.net"));
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "",
            "sip:",
            "http://x",
            "sip:user@",
            "sip:user@host:99999",
            "sip:a b@c",
            "sip:[::1",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }
}
