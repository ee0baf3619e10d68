//! Constant Lua: what EMS's `config.lua` is made of. EMS runs the file as a Lua script whose
//! globals (`configuration = { ... }`) are its settings; we parse it with full_moon and
//! evaluate only constant expressions, so a config file can never run code: table
//! constructors, strings, numbers, booleans, nil, names assigned earlier in the file, and the
//! arithmetic and `..` that EMS's shipped files use (`fileLength=1024*1024`).

use std::collections::HashMap;
use std::fmt;

use full_moon::ast::{self, BinOp, Expression, Field, Stmt, UnOp, Var};
use full_moon::node::Node;
use full_moon::tokenizer::{StringLiteralQuoteType, Symbol, TokenReference, TokenType};

/// Where something is in the file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A problem in the file, at a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaError {
    pub pos: Pos,
    pub message: String,
}

impl LuaError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for LuaError {}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Number(f64),
    String(String),
    Table(Table),
}

impl Value {
    /// The type's name as Lua's `type()` says it, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub value: Value,
    pub pos: Pos,
}

/// A table key: EMS files use names (`port=1935`) and positions (`{ {...}, {...} }`).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// 1-based position in the array part.
    Index(usize),
    Name(String),
}

/// A table constructor's entries in file order (later duplicates win on lookup, as in Lua).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub entries: Vec<(Key, Spanned)>,
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Spanned> {
        self.entries.iter().rev().find_map(|(k, v)| match k {
            Key::Name(n) if n == name && v.value != Value::Nil => Some(v),
            _ => None,
        })
    }

    /// The array part (`{ a, b, c }`), in order.
    pub fn array(&self) -> impl Iterator<Item = &Spanned> {
        self.entries.iter().filter_map(|(k, v)| match k {
            Key::Index(_) => Some(v),
            Key::Name(_) => None,
        })
    }

    /// The named entries, in file order.
    pub fn named(&self) -> impl Iterator<Item = (&str, &Spanned)> {
        self.entries.iter().filter_map(|(k, v)| match k {
            Key::Name(n) => Some((n.as_str(), v)),
            Key::Index(_) => None,
        })
    }
}

/// The file's globals (and locals: a config file has one scope) after running its
/// assignments.
pub type Globals = HashMap<String, Spanned>;

/// Deepest bracket nesting accepted. full_moon parses recursively: fuzzing found ~180 nested
/// table constructors overflowing a 1 MiB stack (a few thousand overflow the main thread's
/// 8 MiB, which aborts the process). EMS's shipped files nest four or five levels.
const MAX_NESTING: usize = 64;

/// Counts `{ ( [` against `} ) ]`, strings and comments included: a bracket in a string
/// only makes the count stricter, and no real config comes near the limit.
fn nesting_ok(source: &str) -> bool {
    let mut depth = 0usize;
    for b in source.bytes() {
        match b {
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return false;
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Parses and evaluates a config file.
pub fn evaluate(source: &str) -> Result<Globals, LuaError> {
    if !nesting_ok(source) {
        return Err(LuaError::new(
            Pos::default(),
            format!("brackets nested deeper than {MAX_NESTING} levels"),
        ));
    }
    // full_moon 3 panics on some malformed input (fuzzing found `#\0`\0`: its lexer reaches
    // an `unreachable!()` for a backtick without the cfxlua feature); a bad config file must
    // be reported as one, not crash the server.
    let parsed = std::panic::catch_unwind(|| full_moon::parse(source)).map_err(|_| {
        LuaError::new(
            Pos::default(),
            "syntax error: the Lua parser failed on this file",
        )
    })?;
    let ast = parsed.map_err(|errors| match errors.first() {
        Some(e) => {
            let (start, _) = e.range();
            LuaError::new(
                Pos {
                    line: start.line(),
                    column: start.character(),
                },
                format!("syntax error: {}", e.error_message()),
            )
        }
        None => LuaError::new(Pos::default(), "syntax error"),
    })?;
    let mut globals = Globals::new();
    let block = ast.nodes();
    for stmt in block.stmts() {
        match stmt {
            Stmt::Assignment(a) => {
                let names = a
                    .variables()
                    .iter()
                    .map(|v| match v {
                        Var::Name(name) => Ok(name),
                        Var::Expression(e) => Err(LuaError::new(
                            pos_of(e.as_ref()),
                            "only plain names can be assigned in a config file",
                        )),
                        _ => Err(LuaError::new(pos_of(v), "unsupported assignment")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let exprs: Vec<&Expression> = a.expressions().iter().collect();
                assign(&mut globals, &names, &exprs)?;
            }
            Stmt::LocalAssignment(a) => {
                let names: Vec<&TokenReference> = a.names().iter().collect();
                let exprs: Vec<&Expression> = a.expressions().iter().collect();
                assign(&mut globals, &names, &exprs)?;
            }
            other => {
                return Err(LuaError::new(
                    pos_of(other),
                    "only assignments of constant values are allowed in a config file \
                     (no calls, functions, loops or conditions)",
                ))
            }
        }
    }
    if let Some(last) = block.last_stmt() {
        return Err(LuaError::new(
            pos_of(last),
            "`return` and `break` are not allowed in a config file",
        ));
    }
    Ok(globals)
}

fn assign(
    globals: &mut Globals,
    names: &[&TokenReference],
    exprs: &[&Expression],
) -> Result<(), LuaError> {
    // Lua evaluates every right-hand side before assigning any name.
    let values = exprs
        .iter()
        .map(|e| eval(globals, e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut values = values.into_iter();
    for name in names {
        let pos = token_pos(name);
        let value = values.next().unwrap_or(Spanned {
            value: Value::Nil,
            pos,
        });
        globals.insert(name.token().to_string(), value);
    }
    Ok(())
}

fn token_pos(t: &TokenReference) -> Pos {
    let p = t.token().start_position();
    Pos {
        line: p.line(),
        column: p.character(),
    }
}

fn pos_of(node: &impl Node) -> Pos {
    node.start_position()
        .map(|p| Pos {
            line: p.line(),
            column: p.character(),
        })
        .unwrap_or_default()
}

fn eval(globals: &Globals, expr: &Expression) -> Result<Spanned, LuaError> {
    let pos = pos_of(expr);
    let value = match expr {
        Expression::Number(t) => Value::Number(number(t)?),
        Expression::String(t) => Value::String(string(t)?),
        Expression::Symbol(t) => match t.token_type() {
            TokenType::Symbol {
                symbol: Symbol::True,
            } => Value::Bool(true),
            TokenType::Symbol {
                symbol: Symbol::False,
            } => Value::Bool(false),
            TokenType::Symbol {
                symbol: Symbol::Nil,
            } => Value::Nil,
            _ => return Err(LuaError::new(pos, format!("unexpected `{}`", t.token()))),
        },
        Expression::TableConstructor(t) => Value::Table(table(globals, t)?),
        Expression::Parentheses { expression, .. } => eval(globals, expression)?.value,
        Expression::UnaryOperator { unop, expression } => {
            let operand = eval(globals, expression)?;
            match unop {
                UnOp::Minus(_) => Value::Number(-as_number(&operand, "-")?),
                UnOp::Not(_) => {
                    Value::Bool(matches!(operand.value, Value::Nil | Value::Bool(false)))
                }
                UnOp::Hash(_) => match &operand.value {
                    Value::String(s) => Value::Number(s.len() as f64),
                    Value::Table(t) => Value::Number(t.array().count() as f64),
                    other => {
                        return Err(LuaError::new(
                            operand.pos,
                            format!("cannot take the length of a {}", other.type_name()),
                        ))
                    }
                },
                _ => return Err(LuaError::new(pos, format!("unsupported operator `{unop}`"))),
            }
        }
        Expression::BinaryOperator { lhs, binop, rhs } => {
            let a = eval(globals, lhs)?;
            let b = eval(globals, rhs)?;
            binary(binop, &a, &b, pos)?
        }
        Expression::Var(Var::Name(name)) => {
            let key = name.token().to_string();
            match globals.get(&key) {
                Some(v) => v.value.clone(),
                None => {
                    return Err(LuaError::new(
                        pos,
                        format!(
                        "unknown name `{key}`: only names assigned earlier in the file can be used"
                    ),
                    ))
                }
            }
        }
        Expression::Var(_) | Expression::FunctionCall(_) | Expression::Function(_) => {
            return Err(LuaError::new(
                pos,
                "not a constant: a config file may hold tables, strings, numbers and booleans, \
                 not calls, functions or indexing",
            ))
        }
        _ => return Err(LuaError::new(pos, "unsupported expression")),
    };
    Ok(Spanned { value, pos })
}

fn table(globals: &Globals, t: &ast::TableConstructor) -> Result<Table, LuaError> {
    let mut out = Table::default();
    let mut next_index = 1;
    for field in t.fields() {
        match field {
            Field::NameKey { key, value, .. } => {
                let v = eval(globals, value)?;
                out.entries.push((Key::Name(key.token().to_string()), v));
            }
            Field::ExpressionKey { key, value, .. } => {
                let k = eval(globals, key)?;
                let key = match &k.value {
                    Value::String(s) => Key::Name(s.clone()),
                    Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n < 1e15 => {
                        Key::Index(*n as usize)
                    }
                    other => {
                        return Err(LuaError::new(
                            k.pos,
                            format!("unsupported table key of type {}", other.type_name()),
                        ))
                    }
                };
                let v = eval(globals, value)?;
                out.entries.push((key, v));
            }
            Field::NoKey(value) => {
                let v = eval(globals, value)?;
                out.entries.push((Key::Index(next_index), v));
                next_index += 1;
            }
            other => return Err(LuaError::new(pos_of(other), "unsupported table field")),
        }
    }
    Ok(out)
}

fn as_number(v: &Spanned, op: &str) -> Result<f64, LuaError> {
    match &v.value {
        Value::Number(n) => Ok(*n),
        // Lua converts numeric strings in arithmetic.
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            LuaError::new(
                v.pos,
                format!("`{op}` needs numbers, found the string {s:?}"),
            )
        }),
        other => Err(LuaError::new(
            v.pos,
            format!("`{op}` needs numbers, found a {}", other.type_name()),
        )),
    }
}

fn as_text(v: &Spanned) -> Result<String, LuaError> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(number_text(*n)),
        other => Err(LuaError::new(
            v.pos,
            format!(
                "`..` needs strings or numbers, found a {}",
                other.type_name()
            ),
        )),
    }
}

/// How Lua prints a number: integers without a fraction.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn binary(op: &BinOp, a: &Spanned, b: &Spanned, pos: Pos) -> Result<Value, LuaError> {
    let sym = op.token().to_string();
    let sym = sym.trim();
    let arith = |f: fn(f64, f64) -> f64| -> Result<Value, LuaError> {
        Ok(Value::Number(f(as_number(a, sym)?, as_number(b, sym)?)))
    };
    match op {
        BinOp::Plus(_) => arith(|x, y| x + y),
        BinOp::Minus(_) => arith(|x, y| x - y),
        BinOp::Star(_) => arith(|x, y| x * y),
        BinOp::Slash(_) => arith(|x, y| x / y),
        BinOp::Percent(_) => arith(|x, y| x - (x / y).floor() * y),
        BinOp::Caret(_) => arith(f64::powf),
        BinOp::TwoDots(_) => Ok(Value::String(as_text(a)? + &as_text(b)?)),
        _ => Err(LuaError::new(
            pos,
            format!("operator `{sym}` is not supported in a config file"),
        )),
    }
}

fn number(t: &TokenReference) -> Result<f64, LuaError> {
    let text = t.token().to_string();
    let bad = || LuaError::new(token_pos(t), format!("malformed number {text}"));
    let lower = text.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16)
            .map(|n| n as f64)
            .map_err(|_| bad());
    }
    lower.parse::<f64>().map_err(|_| bad())
}

/// A string literal's value: escapes resolved for quoted strings, long brackets verbatim.
fn string(t: &TokenReference) -> Result<String, LuaError> {
    let TokenType::StringLiteral {
        literal,
        quote_type,
        ..
    } = t.token_type()
    else {
        return Err(LuaError::new(token_pos(t), "expected a string"));
    };
    if *quote_type == StringLiteralQuoteType::Brackets {
        // Lua drops a newline that directly follows the opening bracket.
        let s = literal.as_str();
        let s = s
            .strip_prefix("\r\n")
            .or_else(|| s.strip_prefix('\n'))
            .unwrap_or(s);
        return Ok(s.to_string());
    }
    unescape(literal.as_str()).map_err(|(offset, message)| {
        // Point at the escape itself: the literal starts one character after the quote.
        let mut pos = token_pos(t);
        let before = &literal.as_str()[..offset];
        match before.rfind('\n') {
            Some(nl) => {
                pos.line += before.matches('\n').count();
                pos.column = before[nl + 1..].chars().count() + 1;
            }
            None => pos.column += 1 + before.chars().count(),
        }
        LuaError::new(pos, message)
    })
}

/// Resolves Lua's escapes (5.1 and the 5.2+ `\x`, `\z`, `\u{}`). Errors carry the byte
/// offset of the bad escape.
fn unescape(s: &str) -> Result<String, (usize, String)> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        let Some(&e) = bytes.get(i + 1) else {
            return Err((start, "unfinished escape at the end of the string".into()));
        };
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'\\' | b'"' | b'\'' => out.push(e),
            b'\n' => out.push(b'\n'),
            b'\r' => {
                out.push(b'\n');
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'z' => {
                while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                    i += 1;
                }
            }
            b'x' => {
                let hex = s.get(i..i + 2).unwrap_or("");
                let v = u8::from_str_radix(hex, 16)
                    .map_err(|_| (start, "\\x needs two hexadecimal digits".to_string()))?;
                out.push(v);
                i += 2;
            }
            b'u' => {
                let rest = s.get(i..).unwrap_or("");
                let close = rest.find('}').filter(|_| rest.starts_with('{'));
                let Some(close) = close else {
                    return Err((start, "\\u needs {hexadecimal digits}".into()));
                };
                let ch = u32::from_str_radix(&rest[1..close], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or((start, "\\u{...} is not a valid character".to_string()))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += close + 1;
            }
            b'0'..=b'9' => {
                let mut v: u32 = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 && bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    v = v * 10 + u32::from(bytes[i] - b'0');
                    i += 1;
                    n += 1;
                }
                let b = u8::try_from(v)
                    .map_err(|_| (start, format!("decimal escape \\{v} is above 255")))?;
                out.push(b);
            }
            other => {
                return Err((
                    start,
                    format!(
                        "invalid escape \\{} in a string (write \\\\ for a backslash)",
                        other as char
                    ),
                ))
            }
        }
    }
    String::from_utf8(out).map_err(|_| (0, "the string is not valid UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_one(src: &str) -> Result<Value, LuaError> {
        evaluate(&format!("x = {src}")).map(|g| g["x"].value.clone())
    }

    // Fuzzing regression (fuzz target `config_lua`): deeply nested table constructors
    // overflowed the stack in full_moon's recursive parser (a test thread has 2 MiB).
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("x = {}1{}", "{".repeat(5_000), "}".repeat(5_000));
        let e = evaluate(&deep).expect_err("too deep");
        assert!(e.message.contains("nested deeper"), "{e}");
        let ok = format!("x = {}1{}", "{".repeat(8), "}".repeat(8));
        assert!(evaluate(&ok).is_ok());
    }

    // Fuzzing regression (fuzz target `config_lua`): full_moon's lexer panicked.
    #[test]
    fn parser_panic_is_a_syntax_error() {
        let e = evaluate("#\0`\0").expect_err("not Lua");
        assert!(e.message.contains("syntax error"), "{e}");
    }

    #[test]
    fn constants_and_escapes() {
        assert_eq!(
            eval_one(r#""..\\evo-webroot""#),
            Ok(Value::String(r"..\evo-webroot".into()))
        );
        assert_eq!(
            eval_one(r#"'a\tb\65\x41\u{e9}\"'"#),
            Ok(Value::String("a\tbAA\u{e9}\"".into()))
        );
        assert_eq!(eval_one("[[\nraw\\n]]"), Ok(Value::String("raw\\n".into())));
        assert_eq!(eval_one("1024*1024"), Ok(Value::Number(1_048_576.0)));
        assert_eq!(eval_one("-1"), Ok(Value::Number(-1.0)));
        assert_eq!(eval_one("0x10 + 2^3"), Ok(Value::Number(24.0)));
        assert_eq!(
            eval_one(r#""../" .. "www" .. 2"#),
            Ok(Value::String("../www2".into()))
        );
        assert_eq!(eval_one("true"), Ok(Value::Bool(true)));
    }

    #[test]
    fn tables_comments_and_names() {
        let src = "-- a comment\nroot = \"/var\" --[[ block\ncomment ]]--\n\
                   local len = 2\n\
                   configuration = { a = root .. \"/www\", [\"b c\"] = len, { 1 }, --[=[ x ]=] 'two', }\n";
        let g = evaluate(src).expect("evaluates");
        let Value::Table(t) = &g["configuration"].value else {
            panic!("not a table")
        };
        assert_eq!(
            g["configuration"].pos,
            Pos {
                line: 5,
                column: 17
            }
        );
        assert_eq!(
            t.get("a").map(|v| &v.value),
            Some(&Value::String("/var/www".into()))
        );
        assert_eq!(t.get("b c").map(|v| &v.value), Some(&Value::Number(2.0)));
        assert_eq!(t.array().count(), 2);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = evaluate("a = {\n  b = 1\n  c = 2\n}\n").expect_err("missing comma");
        assert_eq!(e.pos.line, 3, "{e}");
        assert!(e.message.starts_with("syntax error"), "{e}");

        let e = evaluate("a = {\n  b = os.getenv('HOME'),\n}").expect_err("call");
        assert_eq!(e.pos, Pos { line: 2, column: 7 }, "{e}");

        let e = evaluate("print('hi')").expect_err("statement");
        assert_eq!(e.pos.line, 1);

        let e = evaluate("a = {\n b = \"x\\qy\" }").expect_err("bad escape");
        assert_eq!(e.pos, Pos { line: 2, column: 8 }, "{e}");

        let e = evaluate("a = b").expect_err("unknown name");
        assert!(e.message.contains("`b`"), "{e}");

        let e = evaluate("a = 'x' * 2").expect_err("arith on text");
        assert_eq!(e.pos.column, 5, "{e}");
    }
}
