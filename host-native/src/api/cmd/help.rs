//! `help`: the list of commands with one line each.

use serde_json::{json, Value};

use super::COMMANDS;
use crate::api::line::Line;
use crate::api::reply::Reply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help;

impl Help {
    pub fn parse(_line: &Line) -> Result<Help, Reply> {
        Ok(Help)
    }

    pub fn apply(self) -> Reply {
        let list: Vec<Value> = COMMANDS
            .iter()
            .map(|(command, description)| json!({"command": command, "description": description}))
            .collect();
        Reply::success("Available commands", Value::Array(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_command() {
        let r = Help.apply();
        let names: Vec<&str> = r
            .data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["command"].as_str())
            .collect();
        assert!(names.contains(&"createMSSStream"));
        assert_eq!(names.len(), COMMANDS.len());
    }
}
