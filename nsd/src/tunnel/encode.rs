//! Writing a [`Report`]: its document (JSON, untyped JSON or XML, seed 001 §6.6) and its
//! query line with the token (§6.1.2, §6.5).
//!
//! The query parameters, in the seed's order: `LrnDevEui`, `LrnFPort` (uplink and
//! downlink-sent reports, when the frame has a port: "Only set if present in the uplink
//! packet"), `LrnInfos`, then, when the AS profile has a key, `AS_ID`, `Time` and `Token`.
//! `LrnDevEui` is written in lower case (seed 001 revision 16: "LrnDevEui value should be
//! written in lower case"). The token covers `Time` raw and the URL carries it with `%2B` and
//! `%3A` (§5.1.2); every other value is percent-encoded outside RFC 3986's unreserved set.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::report::{Report, Value, XMLNS};
use super::{token, AsRouting, ContentType};

/// A report's query line, both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuery {
    /// What the token covers: the parameters without `Token`, values raw.
    pub signed: String,
    /// The URL query (without `?`), values percent-encoded, `Token` last when signed.
    pub url: String,
}

/// The query line of `report` for `routing`'s AS at `now`.
pub fn query(report: &Report, routing: &AsRouting, now: SystemTime) -> SignedQuery {
    let mut params: Vec<(&str, String)> = Vec::with_capacity(6);
    params.push(("LrnDevEui", report.dev_eui.to_string()));
    if let Some(port) = report.f_port {
        params.push(("LrnFPort", port.to_string()));
    }
    params.push(("LrnInfos", routing.lrn_infos.clone()));
    let key = routing.profile.key.as_ref();
    if key.is_some() {
        params.push(("AS_ID", routing.profile.as_id.clone()));
        params.push(("Time", super::time::format(now)));
    }
    let mut signed = String::new();
    let mut url = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            signed.push('&');
            url.push('&');
        }
        let _ = write!(signed, "{name}={value}");
        let _ = write!(url, "{name}={}", percent_encode(value));
    }
    if let Some(key) = key {
        let token = token::report_token(&report.body_elements(), &signed, key);
        let _ = write!(url, "&Token={}", token::to_hex(&token));
    }
    SignedQuery { signed, url }
}

/// The full URL of a report to `base` (which may already have a query).
pub fn url(base: &str, query: &SignedQuery) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{}", query.url)
}

/// The document in `content_type`, and the `Content-Type` header value for it.
pub fn document(report: &Report, content_type: ContentType) -> (String, &'static str) {
    match content_type {
        ContentType::Json => (json(report, Typing::Typed), "application/json"),
        ContentType::JsonUntyped => (json(report, Typing::Untyped), "application/json"),
        ContentType::Xml => (xml(report), "application/xml"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Typing {
    Typed,
    Untyped,
}

fn json(report: &Report, typing: Typing) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"");
    out.push_str(report.kind.root());
    out.push_str("\":{");
    let mut first = true;
    if typing == Typing::Untyped {
        // §6.6.2's sample: the XML namespace as "-xmlns".
        out.push_str("\"-xmlns\":");
        push_json_string(&mut out, XMLNS);
        first = false;
    }
    json_fields(&mut out, &report.fields, typing, first);
    out.push_str("}}");
    out
}

fn json_fields(out: &mut String, fields: &[(&str, Value)], typing: Typing, mut first: bool) {
    for (name, value) in fields {
        if !first {
            out.push(',');
        }
        first = false;
        push_json_string(out, name);
        out.push(':');
        match (value, typing) {
            (Value::Json(json), _) => out.push_str(&json.to_string()),
            (Value::Lrrs(lrrs), _) => {
                out.push_str("{\"Lrr\":[");
                for (i, lrr) in lrrs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    json_fields(out, lrr, typing, true);
                    out.push('}');
                }
                out.push_str("]}");
            }
            (Value::Int(v), Typing::Typed) => {
                let _ = write!(out, "{v}");
            }
            (Value::Float { value, .. }, Typing::Typed) if value.is_finite() => {
                out.push_str(&serde_json::Value::from(*value).to_string());
            }
            (other, _) => push_json_string(out, &other.text()),
        }
    }
}

fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::from(text).to_string());
}

fn xml(report: &Report) -> String {
    let root = report.kind.root();
    let mut out = String::with_capacity(1536);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(out, "<{root} xmlns=\"{XMLNS}\">");
    xml_fields(&mut out, &report.fields);
    let _ = write!(out, "</{root}>");
    out
}

fn xml_fields(out: &mut String, fields: &[(&str, Value)]) {
    for (name, value) in fields {
        let _ = write!(out, "<{name}>");
        match value {
            Value::Lrrs(lrrs) => {
                for lrr in lrrs {
                    out.push_str("<Lrr>");
                    xml_fields(out, lrr);
                    out.push_str("</Lrr>");
                }
            }
            other => push_xml_text(out, &other.text()),
        }
        let _ = write!(out, "</{name}>");
    }
}

fn push_xml_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved characters (so `+` → `%2B` and
/// `:` → `%3A`, as §5.1.2 requires for `Time`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
