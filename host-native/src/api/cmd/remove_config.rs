//! `removeConfig`: stop and forget a config, by `id` or by `groupName` (every config of the
//! group). `removeHlsHdsFiles=1` also deletes the files; EMS honours it for MSS too. An id
//! may name a pull config: its pull stops and its stream ends.

use serde_json::Value;

use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view;
use crate::api::view::Streams;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(u64),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveConfig {
    pub target: Target,
    pub remove_files: bool,
}

impl RemoveConfig {
    pub fn parse(line: &Line) -> Result<RemoveConfig, Reply> {
        let target = if let Some(id) = line.number("id", 0, u64::MAX)? {
            Target::Id(id)
        } else {
            match line.string("groupName")? {
                Some(g) if !g.is_empty() => Target::Group(g),
                Some(_) => return Err(crate::api::line::SyntaxError::invalid("groupName").into()),
                None => {
                    return Err(Reply::fail(
                        "Syntax error. Parameter id or groupName is required",
                    ))
                }
            }
        };
        Ok(RemoveConfig {
            target,
            remove_files: line.boolean("removeHlsHdsFiles")?.unwrap_or(false),
        })
    }

    pub fn apply(self, state: Streams<'_>) -> Reply {
        if let Target::Id(id) = self.target {
            if let Some(pull) = state.pulls.remove(id) {
                return Reply::success("Configuration terminated", view::pull_config_json(&pull));
            }
        }
        // Captured first: once removed, the config can no longer be shown.
        let before = state.outputs.list_mss();
        match self.target {
            Target::Id(id) => {
                let shown = before
                    .iter()
                    .find(|c| c.config_id == id)
                    .map(view::config_json);
                match state.outputs.remove_config(id, self.remove_files) {
                    Ok(_) => {
                        Reply::success("Configuration terminated", shown.unwrap_or(Value::Null))
                    }
                    Err(e) => Reply::fail(e.to_string()),
                }
            }
            Target::Group(group) => match state.outputs.remove_group(&group, self.remove_files) {
                Ok(ids) => {
                    let shown: Vec<Value> = before
                        .iter()
                        .filter(|c| ids.contains(&c.config_id))
                        .map(view::config_json)
                        .collect();
                    Reply::success("Configuration terminated", Value::Array(shown))
                }
                Err(e) => Reply::fail(e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cmd::ListConfig;
    use crate::api::test_support;

    fn run(state: &crate::server::AppState, text: &str) -> Reply {
        match RemoveConfig::parse(&Line::parse(text).expect("line")) {
            Ok(c) => c.apply(Streams::of(state)),
            Err(r) => r,
        }
    }

    #[test]
    fn parse_forms() {
        let p = |t| RemoveConfig::parse(&Line::parse(t).expect("line"));
        assert_eq!(
            p("removeConfig id=3"),
            Ok(RemoveConfig {
                target: Target::Id(3),
                remove_files: false
            })
        );
        assert_eq!(
            p("removeConfig groupName=g removeHlsHdsFiles=1"),
            Ok(RemoveConfig {
                target: Target::Group("g".into()),
                remove_files: true
            })
        );
        assert!(p("removeConfig").is_err());
        assert!(p("removeConfig id=x").is_err());
        assert!(p("removeConfig groupName=").is_err());
        assert!(p("removeConfig id=1 removeHlsHdsFiles=2").is_err());
    }

    #[tokio::test]
    async fn by_id_and_by_group() {
        let state = test_support::state();
        let create = |t: &str| crate::api::execute(&state, t).expect("reply");
        let r = create("createMSSStream localStreamNames=a,b targetFolder=/w groupName=g1");
        let ids: Vec<u64> = serde_json::from_value(r.data["configIds"].clone()).expect("ids");
        create("createMSSStream localStreamNames=c targetFolder=/w groupName=g2");

        let r = run(&state, &format!("removeConfig id={}", ids[0]));
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.data["configId"], ids[0]);
        assert!(!run(&state, &format!("removeConfig id={}", ids[0])).is_success());

        let r = run(&state, "removeConfig groupName=g2");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.data.as_array().map(Vec::len), Some(1));
        assert!(!run(&state, "removeConfig groupName=g2").is_success());

        // The configs of one createMSSStream share one presentation: removing one removes
        // the group.
        let left = ListConfig.apply(Streams::of(&state));
        assert_eq!(left.data["mss"].as_array().map(Vec::len), Some(0));
        assert!(!run(&state, &format!("removeConfig id={}", ids[1])).is_success());
    }
}
