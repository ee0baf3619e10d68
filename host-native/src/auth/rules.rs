//! The static publish/play lists: a request is allowed when a rule's name pattern (and app,
//! if the rule names one) matches and the rule needs no token or the stream key's query
//! carries it. An empty list allows everything (the default, open as before); a non-empty
//! list refuses names no rule covers, so with publish rules on, nobody without a key can take
//! (squat) a covered name first: the first *authorized* publisher of a name still wins it.

use super::{Decision, Request};
use crate::config::auth::StreamRule;

pub fn check(rules: &[StreamRule], token_param: &str, req: &Request) -> Decision {
    if rules.is_empty() {
        return Decision::Allow;
    }
    let mut covered = false;
    let token = query_param(&req.query, token_param);
    for rule in rules {
        if !glob(&rule.stream, &req.stream) {
            continue;
        }
        if rule.app.as_deref().is_some_and(|app| app != req.app) {
            continue;
        }
        covered = true;
        match &rule.token {
            None => return Decision::Allow,
            Some(want) => {
                if token
                    .as_deref()
                    .is_some_and(|got| ct_eq(got.as_bytes(), want.expose().as_bytes()))
                {
                    return Decision::Allow;
                }
            }
        }
    }
    Decision::Refuse(if !covered {
        format!("no {} rule covers this stream", req.action.as_str())
    } else if token.is_none() {
        format!("no {token_param} in the stream key")
    } else {
        format!("wrong {token_param}")
    })
}

/// The first value of `name` in a URL query, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `*` matches any run of characters (also none); everything else matches itself.
pub fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guessed token was right.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Action;

    #[test]
    fn globs() {
        assert!(glob("cam1", "cam1") && !glob("cam1", "cam12") && !glob("cam1", "cam"));
        assert!(glob("*", "") && glob("*", "anything"));
        assert!(glob("cam*", "cam") && glob("cam*", "cam7") && !glob("cam*", "xcam"));
        assert!(glob("*-hd", "a-hd") && !glob("*-hd", "a-hd2"));
        assert!(glob("a*b*c", "aXbYc") && glob("a*b*c", "abc") && !glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"), "the parts must not overlap");
    }

    #[test]
    fn static_rules() {
        let rules: Vec<StreamRule> = toml::from_str::<toml::Table>(
            r#"r = [{ stream = "cam*", token = "k 1" }, { stream = "open" }, { stream = "studio", app = "live", token = "s" }]"#,
        )
        .expect("toml")["r"]
            .clone()
            .try_into()
            .expect("rules");
        let ask = |app: &str, key: &str| {
            let name = key.split('?').next().unwrap_or_default();
            check(
                &rules,
                "token",
                &Request::rtmp(Action::Publish, app, name, key, "127.0.0.1:1"),
            )
        };
        assert_eq!(ask("live", "cam1?token=k%201"), Decision::Allow);
        assert_eq!(ask("live", "cam1?x=1&token=k+1"), Decision::Allow);
        assert_eq!(ask("any", "open"), Decision::Allow);
        assert_eq!(ask("live", "studio?token=s"), Decision::Allow);
        for (app, key, why) in [
            ("live", "cam1", "no token"),
            ("live", "cam1?token=k", "wrong token"),
            ("live", "other?token=k%201", "no publish rule"),
            ("other", "studio?token=s", "no publish rule"),
        ] {
            match ask(app, key) {
                Decision::Refuse(r) => assert!(r.contains(why), "{key}: {r}"),
                Decision::Allow => panic!("{app}/{key} allowed"),
            }
        }
        assert_eq!(
            check(
                &[],
                "token",
                &Request::rtmp(Action::Play, "a", "b", "b", "c")
            ),
            Decision::Allow
        );
    }
}
