//! EMS command lines: `command key=value key=value ...`.
//!
//! The grammar follows EMS (see shared/reference/ems-api.md section 3): tokens are separated
//! by spaces; a token is `key=value`, split at its first unescaped `=`; an unescaped comma in
//! a value makes the value an array. `\ `, `\=`, `\,` and `\\` escape; any other backslash is
//! kept as it is, so Windows paths such as `C:\EvoStream\evo-webroot` pass unchanged.
//! Command names and keys are case-insensitive. `commandId` is not a parameter of any
//! command: it is taken out here so every reply can echo it as `responseId`.

use std::collections::HashMap;
use std::fmt;

/// A parameter's value: one string, or several when the value had a comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    One(String),
    List(Vec<String>),
}

impl Value {
    /// The elements, a single value being a list of one (how EMS reads `localStreamNames=a`).
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Value::One(s) => vec![s.clone()],
            Value::List(v) => v.clone(),
        }
    }
}

/// A syntax error, worded as EMS words them; it becomes a FAIL reply's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl SyntaxError {
    /// `Syntax error. Parameter <name> is invalid`.
    pub fn invalid(name: &str) -> Self {
        SyntaxError(format!("Syntax error. Parameter {name} is invalid"))
    }

    /// `Syntax error. Parameter <name> is invalid. Range: lo - hi`.
    pub fn out_of_range(name: &str, lo: u64, hi: u64) -> Self {
        SyntaxError(format!(
            "Syntax error. Parameter {name} is invalid. Range: {lo} - {hi}"
        ))
    }

    pub fn missing(name: &str) -> Self {
        SyntaxError(format!("Syntax error. Parameter {name} is required"))
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A line that could not be split into key=value parameters. The `commandId`, when it could
/// still be read, is kept so the FAIL reply can echo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The command name, so an unknown command is reported as such before its syntax.
    pub command: String,
    pub response_id: Option<String>,
    pub error: SyntaxError,
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The command name as typed; match it case-insensitively.
    pub command: String,
    /// The `commandId` parameter, if any.
    pub response_id: Option<String>,
    /// Keys lowercased; a repeated key keeps its last value.
    params: HashMap<String, Value>,
}

impl Line {
    /// Parses a whole line: the command, then its parameters.
    pub fn parse(text: &str) -> Result<Line, LineError> {
        let mut tokens = tokenize(text).into_iter();
        let command = tokens
            .next()
            .map(|t| t.iter().map(|&(c, _)| c).collect())
            .unwrap_or_default();
        Self::build(command, tokens.collect())
    }

    /// A command whose name arrived separately (the HTTP API puts it in the path) with its
    /// parameters as `key=value key=value` text.
    pub fn with_params(command: &str, params: &str) -> Result<Line, LineError> {
        Self::build(command.to_string(), tokenize(params))
    }

    fn build(command: String, tokens: Vec<Vec<(char, bool)>>) -> Result<Line, LineError> {
        let mut params = HashMap::new();
        let mut first_error = None;
        for token in tokens {
            match split_param(&token) {
                Some((key, value)) => {
                    params.insert(key.to_lowercase(), value);
                }
                None => {
                    if first_error.is_none() {
                        let text: String = token.iter().map(|&(c, _)| c).collect();
                        first_error = Some(SyntaxError(format!(
                            "Syntax error. Parameter {text} is invalid. Parameters are written key=value"
                        )));
                    }
                }
            }
        }
        let response_id = params.remove("commandid").map(|v| match v {
            Value::One(s) => s,
            Value::List(v) => v.join(","),
        });
        match first_error {
            Some(error) => Err(LineError {
                command,
                response_id,
                error,
            }),
            None => Ok(Line {
                command,
                response_id,
                params,
            }),
        }
    }

    /// The raw value of a parameter, looked up case-insensitively.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.params.get(&name.to_lowercase())
    }

    /// A single-valued string parameter. A comma made it a list, which is not a single value.
    pub fn string(&self, name: &str) -> Result<Option<String>, SyntaxError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::One(s)) => Ok(Some(s.clone())),
            Some(Value::List(_)) => Err(SyntaxError::invalid(name)),
        }
    }

    /// A list parameter; a single value is a list of one.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.value(name).map(Value::to_list)
    }

    /// An unsigned number within `lo..=hi`.
    pub fn number(&self, name: &str, lo: u64, hi: u64) -> Result<Option<u64>, SyntaxError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => parse_number(&s, lo, hi)
                .map(Some)
                .ok_or_else(|| SyntaxError::out_of_range(name, lo, hi)),
        }
    }

    /// A list of unsigned numbers, each within `lo..=hi`.
    pub fn numbers(&self, name: &str, lo: u64, hi: u64) -> Result<Option<Vec<u64>>, SyntaxError> {
        match self.list(name) {
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(|s| {
                    parse_number(s, lo, hi).ok_or_else(|| SyntaxError::out_of_range(name, lo, hi))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }

    /// A boolean: EMS scripts write 0/1; true/false is accepted too.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, SyntaxError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" => Ok(Some(true)),
                "0" | "false" => Ok(Some(false)),
                _ => Err(SyntaxError::invalid(name)),
            },
        }
    }
}

fn parse_number(s: &str, lo: u64, hi: u64) -> Option<u64> {
    // Only plain digits: `+5`, `5.0` or ` 5` are not EMS numbers.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (lo..=hi).contains(n))
}

/// Splits on unescaped whitespace. Each character carries whether it was escaped, because the
/// meaning of `=` and `,` is only known once a token is split into key and value.
fn tokenize(text: &str) -> Vec<Vec<(char, bool)>> {
    let mut tokens = Vec::new();
    let mut current: Vec<(char, bool)> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ (' ' | '=' | ',' | '\\')) => {
                    chars.next();
                    current.push((next, true));
                }
                // Not an escape: a lone backslash is data (Windows paths).
                _ => current.push(('\\', false)),
            },
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push((c, false)),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// `key=value` at the first unescaped `=`; `None` when there is no `=` or no key.
fn split_param(token: &[(char, bool)]) -> Option<(String, Value)> {
    let eq = token
        .iter()
        .position(|&(c, escaped)| c == '=' && !escaped)?;
    if eq == 0 {
        return None;
    }
    let key: String = token[..eq].iter().map(|&(c, _)| c).collect();
    let mut items = vec![String::new()];
    for &(c, escaped) in &token[eq + 1..] {
        if c == ',' && !escaped {
            items.push(String::new());
        } else if let Some(last) = items.last_mut() {
            last.push(c);
        }
    }
    let value = if items.len() == 1 {
        Value::One(items.pop().unwrap_or_default())
    } else {
        Value::List(items)
    };
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Line {
        Line::parse(text).expect("parses")
    }

    #[test]
    fn command_and_params() {
        let l = parse("createMSSStream localStreamNames=a targetFolder=/var/www");
        assert_eq!(l.command, "createMSSStream");
        assert_eq!(l.string("localstreamnames"), Ok(Some("a".into())));
        assert_eq!(l.string("TARGETFOLDER"), Ok(Some("/var/www".into())));
        assert_eq!(l.value("missing"), None);
    }

    #[test]
    fn keys_are_case_insensitive_and_last_wins() {
        let l = parse("x GroupName=a GROUPNAME=b");
        assert_eq!(l.string("groupName"), Ok(Some("b".into())));
    }

    #[test]
    fn comma_makes_a_list() {
        let l = parse("x localstreamnames=a,b,c bandwidths=1");
        assert_eq!(
            l.value("localStreamNames"),
            Some(&Value::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(l.list("bandwidths"), Some(vec!["1".into()]));
        assert_eq!(
            l.string("localStreamNames"),
            Err(SyntaxError::invalid("localStreamNames"))
        );
    }

    #[test]
    fn escapes() {
        let l = parse(r"x a=one\ two b=k\=v c=x\,y d=back\\slash e=C:\EvoStream\evo-webroot");
        assert_eq!(l.string("a"), Ok(Some("one two".into())));
        assert_eq!(l.string("b"), Ok(Some("k=v".into())));
        assert_eq!(l.string("c"), Ok(Some("x,y".into())));
        assert_eq!(l.string("d"), Ok(Some(r"back\slash".into())));
        assert_eq!(l.string("e"), Ok(Some(r"C:\EvoStream\evo-webroot".into())));
        // A trailing lone backslash is data too.
        assert_eq!(parse(r"x f=end\").string("f"), Ok(Some(r"end\".into())));
    }

    #[test]
    fn escaped_equals_in_key_and_later_equals_in_value() {
        let l = parse(r"x k\=1=v u=a=b");
        assert_eq!(l.string("k=1"), Ok(Some("v".into())));
        assert_eq!(l.string("u"), Ok(Some("a=b".into())));
    }

    #[test]
    fn whitespace_runs_and_crlf() {
        let l = parse("  version \t a=1   b=2\r\n");
        assert_eq!(l.command, "version");
        assert_eq!(l.number("b", 0, 9), Ok(Some(2)));
    }

    #[test]
    fn command_id_becomes_response_id() {
        let l = parse("version commandId=42");
        assert_eq!(l.response_id.as_deref(), Some("42"));
        assert_eq!(l.value("commandId"), None);
    }

    #[test]
    fn bare_word_is_an_error_that_keeps_the_command_id() {
        let e = Line::parse("version oops commandid=7").expect_err("bare word");
        assert_eq!(e.response_id.as_deref(), Some("7"));
        assert!(
            e.error.0.contains("Parameter oops is invalid"),
            "{}",
            e.error
        );
        assert!(Line::parse("version =v").is_err());
    }

    #[test]
    fn empty_values() {
        let l = parse("x a= b=,");
        assert_eq!(l.string("a"), Ok(Some(String::new())));
        assert_eq!(l.list("b"), Some(vec![String::new(), String::new()]));
    }

    #[test]
    fn numbers_and_ranges() {
        let l = parse("x a=5 b=0 c=abc d=-1 e=+3 f=99999999999999999999999 g=1,2,3");
        assert_eq!(l.number("a", 1, 10), Ok(Some(5)));
        assert_eq!(
            l.number("b", 1, 3600),
            Err(SyntaxError(
                "Syntax error. Parameter b is invalid. Range: 1 - 3600".into()
            ))
        );
        assert!(l.number("c", 0, 10).is_err());
        assert!(l.number("d", 0, 10).is_err());
        assert!(l.number("e", 0, 10).is_err());
        assert!(l.number("f", 0, u64::MAX).is_err());
        assert_eq!(l.number("missing", 0, 1), Ok(None));
        assert_eq!(l.numbers("g", 0, 10), Ok(Some(vec![1, 2, 3])));
        assert!(l.numbers("g", 0, 2).is_err());
    }

    #[test]
    fn booleans() {
        let l = parse("x a=1 b=0 c=TRUE d=false e=yes");
        assert_eq!(l.boolean("a"), Ok(Some(true)));
        assert_eq!(l.boolean("b"), Ok(Some(false)));
        assert_eq!(l.boolean("c"), Ok(Some(true)));
        assert_eq!(l.boolean("d"), Ok(Some(false)));
        assert_eq!(l.boolean("e"), Err(SyntaxError::invalid("e")));
    }

    #[test]
    fn params_with_a_separate_command() {
        let l = Line::with_params("version", "").expect("empty params");
        assert_eq!(l.command, "version");
        let l = Line::with_params("x", "a=1 commandId=abc").expect("params");
        assert_eq!(l.response_id.as_deref(), Some("abc"));
        assert_eq!(l.string("a"), Ok(Some("1".into())));
    }

    #[test]
    fn empty_line() {
        let l = parse("   ");
        assert_eq!(l.command, "");
    }
}
