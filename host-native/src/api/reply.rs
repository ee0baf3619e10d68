//! The reply envelope every command returns, rendered as JSON (JSON CLI, HTTP) or as text
//! (ASCII CLI).

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAIL")]
    Fail,
}

/// `{"data":…,"description":…,"responseId"?:…,"status":…}`. Real EMS replies list keys in
/// alphabetical order (its variant type keeps a sorted map); the field order here and
/// serde_json's sorted maps inside `data` keep that, so byte-comparing scripts keep working.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub data: Value,
    pub description: String,
    #[serde(rename = "responseId", skip_serializing_if = "Option::is_none")]
    pub response_id: Option<Value>,
    pub status: Status,
}

impl Reply {
    pub fn success(description: impl Into<String>, data: Value) -> Reply {
        Reply {
            data,
            description: description.into(),
            response_id: None,
            status: Status::Success,
        }
    }

    /// EMS FAIL replies carry `"data":null`.
    pub fn fail(description: impl Into<String>) -> Reply {
        Reply {
            data: Value::Null,
            description: description.into(),
            response_id: None,
            status: Status::Fail,
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }

    /// Echoes a `commandId`: numeric ids come back as numbers, anything else as a string.
    pub fn with_response_id(mut self, id: Option<&str>) -> Reply {
        self.response_id = id.map(|id| match id.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(id),
        });
        self
    }

    pub fn to_json(&self) -> String {
        // Serializing plain JSON values cannot fail; keep a valid reply regardless.
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(r#"{"data":null,"description":"Internal error","status":"FAIL"}"#)
        })
    }

    /// The ASCII CLI's rendering: a headline, the description, then `data` as an indented
    /// outline (the format of EMS's user guide examples).
    pub fn to_ascii(&self) -> String {
        let mut out = String::new();
        out.push_str(match self.status {
            Status::Success => "Command entered successfully!\r\n",
            Status::Fail => "Command failed!\r\n",
        });
        out.push_str(&self.description);
        out.push_str("\r\n");
        if let Some(id) = &self.response_id {
            out.push_str("responseId: ");
            out.push_str(&scalar(id));
            out.push_str("\r\n");
        }
        match &self.data {
            Value::Null => {}
            data => {
                out.push_str("\r\n");
                outline(&mut out, data, 4);
            }
        }
        out
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::from("null"),
        other => other.to_string(),
    }
}

fn outline(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\r\n"));
                        outline(out, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\r\n"));
                        outline(out, v, indent + 2);
                    }
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\r\n")),
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: []\r\n")),
                    v => out.push_str(&format!("{pad}{k}: {}\r\n", scalar(v))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}--\r\n"));
                        outline(out, item, indent + 3);
                    }
                    v => out.push_str(&format!("{pad}-- {}\r\n", scalar(v))),
                }
            }
        }
        v => out.push_str(&format!("{pad}{}\r\n", scalar(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_key_order_matches_ems() {
        let r = Reply::success("MSS stream created", json!({"b": 1, "a": [0]}));
        assert_eq!(
            r.to_json(),
            r#"{"data":{"a":[0],"b":1},"description":"MSS stream created","status":"SUCCESS"}"#
        );
    }

    #[test]
    fn fail_has_null_data() {
        assert_eq!(
            Reply::fail("Unable to create MSS stream").to_json(),
            r#"{"data":null,"description":"Unable to create MSS stream","status":"FAIL"}"#
        );
    }

    #[test]
    fn response_id_echo() {
        let r = Reply::fail("x").with_response_id(Some("12"));
        assert_eq!(
            r.to_json(),
            r#"{"data":null,"description":"x","responseId":12,"status":"FAIL"}"#
        );
        let r = Reply::fail("x").with_response_id(Some("job-1"));
        assert_eq!(r.response_id, Some(json!("job-1")));
        assert_eq!(Reply::fail("x").with_response_id(None).response_id, None);
    }

    #[test]
    fn ascii_outline() {
        let r = Reply::success(
            "MSS stream created",
            json!({"groupName": "mss", "localStreamNames": ["testpullStream"], "x": {"y": true}}),
        );
        assert_eq!(
            r.to_ascii(),
            "Command entered successfully!\r\nMSS stream created\r\n\r\n    groupName: mss\r\n    localStreamNames:\r\n      -- testpullStream\r\n    x:\r\n      y: true\r\n"
        );
        let f = Reply::fail("command x not known. Type help for list of commands");
        assert_eq!(
            f.to_ascii(),
            "Command failed!\r\ncommand x not known. Type help for list of commands\r\n"
        );
    }
}
