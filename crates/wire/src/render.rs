//! Reply bodies: JSON (the default every SDK parses) or XML when `Format=XML` is asked for.
//! Every body carries `RequestId`; success bodies never carry `Code` (kms-api.md §1.4).

use serde::Serialize;
use serde_json::Value;

/// The reply format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The Content-Type header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json;charset=utf-8",
            Self::Xml => "text/xml;charset=utf-8",
        }
    }
}

/// Renders a success body: `RequestId` first, then the fields of `body` (a struct that
/// serializes to a JSON object).
pub fn success<T: Serialize>(format: Format, request_id: &str, body: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"RequestId\":");
    push_json_str(&mut out, request_id);
    // Serialize the body in place after the RequestId, then turn its opening brace into a
    // comma: one buffer, no copy of the (possibly large) body.
    let start = out.len();
    if serde_json::to_writer(&mut out, body).is_err() {
        out.truncate(start);
    }
    match out.get(start..) {
        Some(b"{}") | Some(b"") => {
            out.truncate(start);
            out.push(b'}');
        }
        _ => {
            if let Some(brace) = out.get_mut(start) {
                *brace = b',';
            }
        }
    }
    match format {
        Format::Json => out,
        // The KMS docs show XML replies under a `<KMS>` root (kms-api.md §1.4).
        Format::Xml => to_xml("KMS", &out),
    }
}

/// The error body: the union of the POP gateway shape and the KMS docs' shape (§1.5).
pub struct ErrorBody<'a> {
    pub request_id: &'a str,
    pub host_id: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    pub status: u16,
}

/// Renders an error body.
pub fn error(format: Format, e: &ErrorBody<'_>) -> Vec<u8> {
    let body = serde_json::json!({
        "RequestId": e.request_id,
        "HostId": e.host_id,
        "Code": e.code,
        "Message": e.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Kms", e.code),
        "HttpStatus": e.status,
    });
    let json = serde_json::to_vec(&body).unwrap_or_default();
    match format {
        Format::Json => json,
        Format::Xml => to_xml("Error", &json),
    }
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly as JSON requires; a request id is ASCII anyway.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

fn to_xml(root: &str, json: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    element(&mut out, root, &value);
    out.into_bytes()
}

/// Objects become nested elements; an array repeats its parent element name, which gives
/// Alibaba's `<VersionStages><VersionStage>a</VersionStage>...` shape from the JSON nesting.
fn element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                element(out, name, item);
            }
        }
        _ => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        element(out, k, v);
                    }
                }
                Value::String(s) => escape(out, s),
                Value::Null => {}
                other => out.push_str(&other.to_string()),
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Demo {
        secret_name: &'static str,
        version_stages: Stages,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Stages {
        version_stage: Vec<&'static str>,
    }

    #[test]
    fn success_body_starts_with_request_id_and_keeps_nesting() {
        let body = Demo {
            secret_name: "a",
            version_stages: Stages {
                version_stage: vec!["ACSCurrent"],
            },
        };
        let out = success(Format::Json, "rid", &body);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["RequestId"], "rid");
        assert_eq!(v["VersionStages"]["VersionStage"][0], "ACSCurrent");
        assert!(v.get("Code").is_none());
    }

    #[test]
    fn empty_struct_renders_request_id_only() {
        #[derive(Serialize)]
        struct Empty {}
        let out = success(Format::Json, "rid", &Empty {});
        assert_eq!(out, br#"{"RequestId":"rid"}"#);
    }

    #[test]
    fn xml_repeats_list_elements_under_their_parent() {
        let body = Demo {
            secret_name: "a<b",
            version_stages: Stages {
                version_stage: vec!["x", "y"],
            },
        };
        let out = String::from_utf8(success(Format::Xml, "rid", &body)).unwrap();
        assert!(out.contains("<KMS><RequestId>rid</RequestId><SecretName>a&lt;b</SecretName><VersionStages><VersionStage>x</VersionStage><VersionStage>y</VersionStage></VersionStages></KMS>"), "{out}");
    }

    #[test]
    fn error_body_has_every_field() {
        let out = error(
            Format::Json,
            &ErrorBody {
                request_id: "r",
                host_id: "h",
                code: "C",
                message: "m",
                status: 404,
            },
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        for k in [
            "RequestId",
            "HostId",
            "Code",
            "Message",
            "Recommend",
            "HttpStatus",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["HttpStatus"], 404);
    }
}
