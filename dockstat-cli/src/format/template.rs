//! The part of Go's `text/template` that docker `--format` strings use, with the docker CLI's
//! template functions (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`,
//! `truncate`) and Go's builtins `and`, `or`, `not`, `len`, `eq`, `ne`, `lt`, `le`, `gt`,
//! `ge`, `print`, `printf`, `println`.
//!
//! Errors are worded as Go words them (`template: :1: unexpected EOF`, `template: :1:2:
//! executing "" at <.Foo>: ...`), so a message can be compared with docker's.

use std::fmt::Write as _;

use super::{Cell, Row, json_object, json_string_as};
use crate::units::go_quote;

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    src: String,
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the pipeline's value.
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Clone, Debug, PartialEq)]
struct Pipe {
    /// `$x :=` (one variable) or `$i, $x :=` (range only).
    decl: Vec<String>,
    cmds: Vec<Cmd>,
}

#[derive(Clone, Debug, PartialEq)]
struct Cmd {
    pos: usize,
    end: usize,
    args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq)]
enum ArgKind {
    /// `.A.B`; no names is the dot itself.
    Field(Vec<String>),
    /// `$x.A`
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    /// A number: its integer value if it has one (for integer parameters), and whether Go
    /// takes it as a float where any type goes (written with `.`, `e` or `p`).
    Num {
        int: Option<i64>,
        float: f64,
        is_float: bool,
    },
    Bool(bool),
    Nil,
    Pipe(Box<Pipe>),
}

#[derive(Clone, Debug, PartialEq)]
struct Arg {
    pos: usize,
    end: usize,
    /// Where Go reports an error of this operand: a chain (`.A.B`) at its second field.
    at: usize,
    kind: ArgKind,
}

/// A value while a template runs.
#[derive(Clone, Debug)]
enum Value<'a> {
    Str(String),
    List(Vec<String>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Go's nil (a field docker leaves unset, such as `Platform`).
    Nil,
    /// A JSON value a row holds as is.
    Raw(String),
    /// The row (or the header row) itself.
    Row(&'a Row),
    Header,
}

impl Value<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Raw(_) => "string",
            Value::List(_) => "[]string",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Nil => "<nil>",
            Value::Row(_) => "*formatter.Context",
            Value::Header => "formatter.HeaderContext",
        }
    }

    fn truth(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Nil => false,
            Value::Raw(_) | Value::Row(_) | Value::Header => true,
        }
    }

    /// Go's `fmt.Sprint` of one value (`%v`).
    fn print(&self, out: &mut String) {
        match self {
            Value::Str(s) | Value::Raw(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                out.push_str(&l.join(" "));
                out.push(']');
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Nil => out.push_str("<nil>"),
            Value::Row(r) => out.push_str(&json_object(r)),
            Value::Header => {}
        }
    }

    fn to_text(&self) -> String {
        let mut s = String::new();
        self.print(&mut s);
        s
    }

    fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Raw(_))
    }
}

/// The functions a template may call; Go's builtins docker's templates do not need are
/// rejected as unsupported rather than as unknown.
const FUNCS: &[&str] = &[
    "and", "eq", "ge", "gt", "join", "json", "le", "len", "lower", "lt", "ne", "not", "or", "pad",
    "print", "printf", "println", "split", "title", "truncate", "upper",
];
const UNSUPPORTED: &[&str] = &["call", "html", "index", "js", "slice", "urlquery"];

// ---------------------------------------------------------------------------------------
// Lexing and parsing

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Comma,
}

struct Parser<'s> {
    src: &'s str,
    /// Byte offset where scanning continues.
    at: usize,
    /// Trim the leading spaces of the next text.
    trim_next: bool,
    vars: Vec<String>,
    /// Nesting of controls and parentheses, bounded so that no template can exhaust the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 100;

/// The most a `range N` counts to (Go's has no bound; a row's text should).
const MAX_RANGE: i64 = 1 << 16;

/// An action's tokens with their byte positions, and the action's start.
struct Action {
    pos: usize,
    toks: Vec<(usize, usize, Tok)>,
}

enum Item {
    Text(String),
    Action(Action),
    Eof,
}

fn parse_error(src: &str, at: usize, msg: impl std::fmt::Display) -> String {
    let line = 1 + src[..at.min(src.len())].matches('\n').count();
    format!("template: :{line}: {msg}")
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'s> Parser<'s> {
    fn err(&self, at: usize, msg: impl std::fmt::Display) -> String {
        parse_error(self.src, at, msg)
    }

    fn next_item(&mut self) -> Result<Item, String> {
        // Text that trims to nothing and comments print nothing: go on to what follows.
        loop {
            if let Some(item) = self.next_piece()? {
                return Ok(item);
            }
        }
    }

    fn next_piece(&mut self) -> Result<Option<Item>, String> {
        let src = self.src;
        let rest = &src[self.at..];
        if rest.is_empty() {
            return Ok(Some(Item::Eof));
        }
        let start = rest.find("{{").unwrap_or(rest.len());
        if start > 0 {
            let mut text = &rest[..start];
            if self.trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            // A `{{- ` that follows trims this text's end.
            let after = &rest.as_bytes()[start..];
            if after.len() > 3 && after.starts_with(b"{{-") && is_space(after[3]) {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            self.at += start;
            self.trim_next = false;
            if !text.is_empty() {
                return Ok(Some(Item::Text(text.to_string())));
            }
            return Ok(None);
        }
        self.trim_next = false;
        let pos = self.at;
        let mut i = pos + 2;
        let bytes = src.as_bytes();
        if src[i..].starts_with('-') && i + 1 < src.len() && is_space(bytes[i + 1]) {
            i += 2;
        }
        // A comment: `{{/* ... */}}`, right after the delimiter (and trim marker).
        if src[i..].starts_with("/*") {
            let Some(cend) = src[i..].find("*/") else {
                return Err(self.err(pos, "unclosed comment"));
            };
            let j = i + cend + 2;
            let tail = &src.as_bytes()[j..];
            if tail.len() >= 4 && is_space(tail[0]) && tail[1..].starts_with(b"-}}") {
                self.at = j + 4;
                self.trim_next = true;
            } else if tail.starts_with(b"}}") {
                self.at = j + 2;
            } else {
                return Err(self.err(pos, "comment ends before closing delimiter"));
            }
            return Ok(None);
        }
        let mut toks = Vec::new();
        loop {
            while i < src.len() && is_space(bytes[i]) {
                // ` -}}` closes the action and trims what follows.
                if src[i + 1..].starts_with("-}}") {
                    self.at = i + 4;
                    self.trim_next = true;
                    return Ok(Some(Item::Action(Action { pos, toks })));
                }
                i += 1;
            }
            if i >= src.len() {
                return Err(self.err(pos, "unclosed action"));
            }
            if src[i..].starts_with("}}") {
                self.at = i + 2;
                return Ok(Some(Item::Action(Action { pos, toks })));
            }
            let c = bytes[i];
            let start = i;
            let tok = match c {
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b'(' => {
                    i += 1;
                    Tok::LParen
                }
                b')' => {
                    i += 1;
                    Tok::RParen
                }
                b',' => {
                    i += 1;
                    Tok::Comma
                }
                b':' if src[i..].starts_with(":=") => {
                    i += 2;
                    Tok::Declare
                }
                b'"' => {
                    let (s, end) = self.quoted(i)?;
                    i = end;
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(end) = src[i + 1..].find('`') else {
                        return Err(self.err(i, "unterminated raw quoted string"));
                    };
                    let s = src[i + 1..i + 1 + end].to_string();
                    i += end + 2;
                    Tok::Str(s)
                }
                b'.' if i + 1 < src.len() && is_ident_start(bytes[i + 1]) => {
                    let end = ident_end(src, i + 1);
                    let name = src[i + 1..end].to_string();
                    i = end;
                    Tok::Field(name)
                }
                b'.' if !(i + 1 < src.len() && bytes[i + 1].is_ascii_digit()) => {
                    i += 1;
                    Tok::Dot
                }
                b'$' => {
                    let end = ident_end(src, i + 1);
                    let name = src[i..end].to_string();
                    i = end;
                    Tok::Var(name)
                }
                b'0'..=b'9' | b'-' | b'+' | b'.' => {
                    let mut end = i + 1;
                    while end < src.len()
                        && (bytes[end].is_ascii_alphanumeric()
                            || bytes[end] == b'.'
                            || bytes[end] == b'_'
                            || (matches!(bytes[end], b'+' | b'-')
                                && matches!(bytes[end - 1], b'e' | b'E')))
                    {
                        end += 1;
                    }
                    let text = src[i..end].to_string();
                    i = end;
                    Tok::Num(text)
                }
                c if is_ident_start(c) => {
                    let end = ident_end(src, i);
                    let name = src[i..end].to_string();
                    i = end;
                    Tok::Ident(name)
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(self.err(i, format!("unexpected {:?} in operand", ch.to_string())));
                }
            };
            // A field right after an operand: `.A.B` chains, `$x.A`.
            toks.push((start, i, tok));
        }
    }

    /// A Go interpreted string literal starting at `at` (the opening quote).
    fn quoted(&self, at: usize) -> Result<(String, usize), String> {
        let src = self.src;
        let mut out = String::new();
        let mut chars = src[at + 1..].char_indices();
        let bad = |m: &str| self.err(at, m);
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => return Ok((out, at + 1 + off + 1)),
                '\n' => return Err(bad("unterminated quoted string")),
                '\\' => {
                    let Some((_, e)) = chars.next() else {
                        return Err(bad("unterminated quoted string"));
                    };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                (0..n).filter_map(|_| chars.next()).map(|x| x.1).collect();
                            let v = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == n)
                                .ok_or_else(|| bad("invalid syntax in quoted string"))?;
                            out.push(
                                char::from_u32(v)
                                    .ok_or_else(|| bad("invalid syntax in quoted string"))?,
                            );
                        }
                        _ => return Err(bad("invalid syntax in quoted string")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(bad("unterminated quoted string"))
    }

    /// Parses nodes up to `{{end}}`/`{{else}}` (returned as the stopping keyword) or the end.
    fn list(&mut self, nested: bool) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        loop {
            match self.next_item()? {
                Item::Eof => {
                    if nested {
                        return Err(self.err(self.src.len(), "unexpected EOF"));
                    }
                    return Ok((nodes, Stop::Eof));
                }
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action(a) => {
                    let pos = a.pos;
                    let keyword = match a.toks.first() {
                        Some((_, _, Tok::Ident(k))) => k.clone(),
                        _ => String::new(),
                    };
                    match keyword.as_str() {
                        "end" => {
                            if !nested {
                                return Err(self.err(pos, "unexpected {{end}}"));
                            }
                            if a.toks.len() > 1 {
                                return Err(self.err(pos, "unexpected token in end"));
                            }
                            return Ok((nodes, Stop::End));
                        }
                        "else" => {
                            if !nested {
                                return Err(self.err(pos, "unexpected {{else}}"));
                            }
                            return Ok((nodes, Stop::Else(a)));
                        }
                        "if" | "range" | "with" => {
                            let node = self.control(&keyword, a)?;
                            nodes.push(node);
                        }
                        "define" | "template" | "block" | "break" | "continue" => {
                            return Err(self.err(
                                pos,
                                format!("{{{{{keyword}}}}} is not supported by dockstat"),
                            ));
                        }
                        _ => {
                            let pipe = self.pipeline(&a.toks, pos, "command", false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
            }
        }
    }

    /// `{{if P}}`, `{{range P}}`, `{{with P}}` up to their `{{end}}`; `{{else if P}}`
    /// nests as Go does.
    fn control(&mut self, keyword: &str, a: Action) -> Result<Node, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(a.pos, "nesting too deep"));
        }
        self.depth += 1;
        let node = self.control_inner(keyword, a);
        self.depth -= 1;
        node
    }

    fn control_inner(&mut self, keyword: &str, a: Action) -> Result<Node, String> {
        let saved = self.vars.len();
        let pipe = self.pipeline(&a.toks[1..], a.pos, keyword, keyword == "range")?;
        let (body, stop) = self.list(true)?;
        let els = match stop {
            Stop::End => Vec::new(),
            Stop::Else(e) => {
                if e.toks.len() > 1 {
                    // `{{else if ...}}` / `{{else with ...}}`: a nested control ending at
                    // the same `{{end}}`.
                    match &e.toks[1].2 {
                        Tok::Ident(k) if k == "if" || k == "with" => {
                            let k = k.clone();
                            let inner = Action {
                                pos: e.pos,
                                toks: e.toks[1..].to_vec(),
                            };
                            vec![self.control(&k, inner)?]
                        }
                        _ => return Err(self.err(e.pos, "unexpected token in else")),
                    }
                } else {
                    let (els, stop) = self.list(true)?;
                    if let Stop::Else(e) = stop {
                        return Err(self.err(e.pos, "expected end; found {{else}}"));
                    }
                    els
                }
            }
            Stop::Eof => unreachable!("nested lists end at end or else"),
        };
        self.vars.truncate(saved);
        Ok(match keyword {
            "if" => Node::If(pipe, body, els),
            "range" => Node::Range(pipe, body, els),
            _ => Node::With(pipe, body, els),
        })
    }

    /// A pipeline: `[$x :=] cmd | cmd ...`.
    fn pipeline(
        &mut self,
        toks: &[(usize, usize, Tok)],
        pos: usize,
        context: &str,
        range: bool,
    ) -> Result<Pipe, String> {
        let mut decl = Vec::new();
        let mut toks = toks;
        // Declarations: `$x :=` or (range) `$i, $x :=`.
        let decl_at = toks.iter().position(|t| t.2 == Tok::Declare);
        if let Some(d) = decl_at {
            let names = &toks[..d];
            let ok = match names {
                [(_, _, Tok::Var(a))] => {
                    decl.push(a.clone());
                    true
                }
                [(_, _, Tok::Var(a)), (_, _, Tok::Comma), (_, _, Tok::Var(b))] if range => {
                    decl.push(a.clone());
                    decl.push(b.clone());
                    true
                }
                _ => false,
            };
            if !ok {
                return Err(self.err(pos, format!("unexpected \":=\" in {context}")));
            }
            toks = &toks[d + 1..];
        }
        if toks.is_empty() {
            return Err(self.err(pos, format!("missing value for {context}")));
        }
        let mut idx = 0;
        let pipe = self.pipe_tokens(toks, &mut idx, pos, 0)?;
        if idx < toks.len() {
            return Err(self.err(toks[idx].0, "unexpected right paren"));
        }
        self.vars.extend(decl.iter().cloned());
        Ok(Pipe {
            decl,
            cmds: pipe.cmds,
        })
    }

    fn pipe_tokens(
        &self,
        toks: &[(usize, usize, Tok)],
        idx: &mut usize,
        pos: usize,
        depth: usize,
    ) -> Result<Pipe, String> {
        let in_paren = depth > 0;
        let mut cmds = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut cmd_pos = toks.get(*idx).map_or(pos, |t| t.0);
        loop {
            let Some((start, end, tok)) = toks.get(*idx) else {
                if in_paren {
                    return Err(self.err(pos, "unclosed left paren"));
                }
                break;
            };
            let (start, end) = (*start, *end);
            match tok {
                Tok::RParen => {
                    if in_paren {
                        break;
                    }
                    return Err(self.err(start, "unexpected right paren"));
                }
                Tok::Pipe => {
                    if args.is_empty() {
                        return Err(self.err(start, "missing value for command"));
                    }
                    let end = args.last().map_or(start, |a| a.end);
                    cmds.push(Cmd {
                        pos: cmd_pos,
                        end,
                        args: std::mem::take(&mut args),
                    });
                    *idx += 1;
                    cmd_pos = toks.get(*idx).map_or(start, |t| t.0);
                    continue;
                }
                _ => {}
            }
            *idx += 1;
            let kind = match tok {
                Tok::Ident(name) => match name.as_str() {
                    "true" => ArgKind::Bool(true),
                    "false" => ArgKind::Bool(false),
                    "nil" => ArgKind::Nil,
                    n if FUNCS.contains(&n) => ArgKind::Func(n.to_string()),
                    n if UNSUPPORTED.contains(&n) => {
                        return Err(self.err(
                            start,
                            format!("function {n:?} is not supported by dockstat"),
                        ));
                    }
                    n => return Err(self.err(start, format!("function {n:?} not defined"))),
                },
                Tok::Field(f) => {
                    let mut names = vec![f.clone()];
                    self.chain(toks, idx, &mut names);
                    ArgKind::Field(names)
                }
                Tok::Dot => ArgKind::Field(Vec::new()),
                Tok::Var(v) => {
                    if v != "$" && !self.vars.contains(v) {
                        return Err(self.err(start, format!("undefined variable {v:?}")));
                    }
                    let mut names = Vec::new();
                    self.chain(toks, idx, &mut names);
                    ArgKind::Var(v.clone(), names)
                }
                Tok::Str(s) => ArgKind::Str(s.clone()),
                Tok::Num(n) => parse_number(n)
                    .ok_or_else(|| self.err(start, format!("bad number syntax: {n:?}")))?,
                Tok::LParen => {
                    if depth >= MAX_DEPTH {
                        return Err(self.err(start, "nesting too deep"));
                    }
                    let inner = self.pipe_tokens(toks, idx, start, depth + 1)?;
                    *idx += 1; // the right paren
                    ArgKind::Pipe(Box::new(inner))
                }
                Tok::Declare => return Err(self.err(start, "unexpected \":=\" in operand")),
                Tok::Comma => return Err(self.err(start, "unexpected \",\" in command")),
                Tok::Pipe | Tok::RParen => unreachable!("handled above"),
            };
            let end = if let ArgKind::Pipe(_) = kind {
                toks.get(*idx - 1).map_or(end, |t| t.1)
            } else if *idx > 0 {
                toks[*idx - 1].1.max(end)
            } else {
                end
            };
            let at = match &kind {
                ArgKind::Field(n) | ArgKind::Var(_, n)
                    if n.len() > 1 || matches!(kind, ArgKind::Var(_, _)) && !n.is_empty() =>
                {
                    toks.iter()
                        .skip_while(|t| t.0 <= start)
                        .map(|t| t.0)
                        .next()
                        .unwrap_or(start)
                }
                _ => start,
            };
            args.push(Arg {
                pos: start,
                end,
                at,
                kind,
            });
        }
        if args.is_empty() {
            let at = toks.get(*idx).map_or(pos, |t| t.0);
            return Err(self.err(at, "missing value for command"));
        }
        let end = args.last().map_or(pos, |a| a.end);
        cmds.push(Cmd {
            pos: cmd_pos,
            end,
            args,
        });
        Ok(Pipe {
            decl: Vec::new(),
            cmds,
        })
    }

    /// Field names chained right after an operand (`.A.B`, `$x.A`).
    fn chain(&self, toks: &[(usize, usize, Tok)], idx: &mut usize, names: &mut Vec<String>) {
        while let Some((s, _, Tok::Field(f))) = toks.get(*idx) {
            if *s != toks[*idx - 1].1 {
                break;
            }
            names.push(f.clone());
            *idx += 1;
        }
    }
}

enum Stop {
    Eof,
    End,
    Else(Action),
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn ident_end(s: &str, from: usize) -> usize {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    i
}

fn parse_number(n: &str) -> Option<ArgKind> {
    let clean = n.replace('_', "");
    if let Ok(i) = clean.parse::<i64>() {
        return Some(ArgKind::Num {
            int: Some(i),
            float: i as f64,
            is_float: false,
        });
    }
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let v = i64::from_str_radix(hex, 16).ok()?;
        let v = if neg { -v } else { v };
        return Some(ArgKind::Num {
            int: Some(v),
            float: v as f64,
            is_float: false,
        });
    }
    let f: f64 = clean.parse().ok()?;
    if !f.is_finite() || clean.contains("inf") || clean.contains("nan") {
        return None;
    }
    let int = (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64);
    Some(ArgKind::Num {
        int,
        float: f,
        is_float: clean.contains(['.', 'e', 'E', 'p', 'P']),
    })
}

impl Template {
    /// Parses `src` (with `\t` and `\n` already replaced, as docker does).
    pub(crate) fn parse(src: &str) -> Result<Template, String> {
        let mut p = Parser {
            src,
            at: 0,
            trim_next: false,
            vars: Vec::new(),
            depth: 0,
        };
        let (nodes, _) = p.list(false)?;
        Ok(Template {
            src: src.to_string(),
            nodes,
        })
    }

    /// Whether the template may use field `name` of the row (`{{json .}}` uses them all).
    pub(crate) fn uses(&self, name: &str) -> bool {
        self.refers_to(name, true)
    }

    /// Whether the template names field `name` itself (`{{json .}}` does not name any).
    pub(crate) fn names(&self, name: &str) -> bool {
        self.refers_to(name, false)
    }

    /// Whether text written by the template itself holds a line break (then a row may take
    /// more than one line).
    pub(crate) fn writes_newlines(&self) -> bool {
        fn nodes_break(nodes: &[Node]) -> bool {
            nodes.iter().any(|n| match n {
                Node::Text(t) => t.contains('\n'),
                Node::Action(p) => pipe_breaks(p),
                Node::If(p, a, b) | Node::Range(p, a, b) | Node::With(p, a, b) => {
                    pipe_breaks(p) || nodes_break(a) || nodes_break(b)
                }
            })
        }
        fn pipe_breaks(p: &Pipe) -> bool {
            p.cmds.iter().any(|c| {
                c.args.iter().any(|a| match &a.kind {
                    ArgKind::Func(f) => f == "println",
                    ArgKind::Str(s) => s.contains('\n'),
                    ArgKind::Pipe(p) => pipe_breaks(p),
                    _ => false,
                })
            })
        }
        nodes_break(&self.nodes)
    }

    fn refers_to(&self, name: &str, whole_row: bool) -> bool {
        fn pipe_uses(p: &Pipe, name: &str, dot_is_row: bool, whole_row: bool) -> bool {
            p.cmds.iter().flat_map(|c| &c.args).any(|a| match &a.kind {
                ArgKind::Field(names) if names.is_empty() => dot_is_row && whole_row,
                ArgKind::Field(names) => dot_is_row && names[0] == name,
                ArgKind::Var(v, names) => {
                    v == "$" && names.first().map_or(whole_row, |n| n == name)
                }
                ArgKind::Pipe(p) => pipe_uses(p, name, dot_is_row, whole_row),
                _ => false,
            })
        }
        fn nodes_use(nodes: &[Node], name: &str, dot_is_row: bool, whole_row: bool) -> bool {
            nodes.iter().any(|n| match n {
                Node::Text(_) => false,
                Node::Action(p) => pipe_uses(p, name, dot_is_row, whole_row),
                Node::If(p, a, b) => {
                    pipe_uses(p, name, dot_is_row, whole_row)
                        || nodes_use(a, name, dot_is_row, whole_row)
                        || nodes_use(b, name, dot_is_row, whole_row)
                }
                // Inside range and with, the dot is another value.
                Node::Range(p, a, b) | Node::With(p, a, b) => {
                    pipe_uses(p, name, dot_is_row, whole_row)
                        || nodes_use(a, name, false, whole_row)
                        || nodes_use(b, name, dot_is_row, whole_row)
                }
            })
        }
        nodes_use(&self.nodes, name, true, whole_row)
    }

    /// Renders one row.
    pub(crate) fn render(&self, row: &Row, scope: &Scope<'_>) -> Result<String, String> {
        let mut ex = Exec {
            src: &self.src,
            scope,
            header: None,
            vars: Vec::new(),
            out: String::new(),
        };
        ex.vars.push(("$".to_string(), Value::Row(row)));
        let nodes = &self.nodes;
        ex.nodes(nodes, &Value::Row(row))?;
        Ok(ex.out)
    }

    /// Renders the table header as docker does: the template run over the header names with
    /// the text functions left out; what was written before an error is kept.
    pub(crate) fn render_header(
        &self,
        scope: &Scope<'_>,
        header: &dyn Fn(&str) -> String,
    ) -> String {
        let mut ex = Exec {
            src: &self.src,
            scope,
            header: Some(header),
            vars: vec![("$".to_string(), Value::Header)],
            out: String::new(),
        };
        let _ = ex.nodes(&self.nodes, &Value::Header);
        ex.out
    }
}

/// What a row offers a template.
#[derive(Clone, Copy, Default)]
pub(crate) struct Scope<'f> {
    /// The fields docker offers; `None` takes any name (checked before) and prints an
    /// absent one as empty.
    pub(crate) fields: Option<&'f [&'f str]>,
    /// Every field and label has this value (a check before any row is fetched).
    pub(crate) probe: Option<&'f str>,
}

impl Scope<'_> {
    /// `.Label "key"` exists where rows have `Labels` (`ps`, docker's ContainerContext).
    fn labels(&self) -> bool {
        self.fields.is_none_or(|f| f.contains(&"Labels"))
    }
}

/// The row key holding a container's labels for `.Label` (not one of docker's fields).
pub(crate) const LABELS_KEY: &str = "Label";

struct Exec<'a, 'f> {
    src: &'a str,
    scope: &'a Scope<'f>,
    header: Option<&'a dyn Fn(&str) -> String>,
    vars: Vec<(String, Value<'a>)>,
    out: String,
}

/// Go's `printValue` type of a parameter.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    Str,
    Int,
    List,
    Any,
}

impl<'a> Exec<'a, '_> {
    fn fail(&self, pos: usize, context_end: usize, msg: impl std::fmt::Display) -> String {
        self.fail_at(pos, pos, context_end, msg)
    }

    /// An error reported at `at`, naming the operand `src[pos..context_end]`.
    fn fail_at(
        &self,
        at: usize,
        pos: usize,
        context_end: usize,
        msg: impl std::fmt::Display,
    ) -> String {
        let before = &self.src[..at];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => at - nl - 1,
            None => at,
        };
        let context = &self.src[pos..context_end.max(pos)];
        format!("template: :{line}:{col}: executing \"\" at <{context}>: {msg}")
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value<'a>) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        v.print(&mut self.out);
                    } else {
                        self.vars.push((p.decl[0].clone(), v));
                    }
                }
                Node::If(p, then, els) | Node::With(p, then, els) => {
                    let saved = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    if let Some(name) = p.decl.first() {
                        self.vars.push((name.clone(), v.clone()));
                    }
                    let with = matches!(n, Node::With(..));
                    if v.truth() {
                        if with {
                            self.nodes(then, &v)?;
                        } else {
                            self.nodes(then, dot)?;
                        }
                    } else {
                        self.nodes(els, dot)?;
                    }
                    self.vars.truncate(saved);
                }
                Node::Range(p, body, els) => {
                    let v = self.pipe(p, dot)?;
                    let items: Vec<Value<'a>> = match v {
                        Value::List(l) => l.into_iter().map(Value::Str).collect(),
                        Value::Nil => Vec::new(),
                        Value::Int(n) if n <= MAX_RANGE => (0..n.max(0)).map(Value::Int).collect(),
                        other => {
                            let first = &p.cmds[0];
                            // Checked before any row exists, the value is a stand-in.
                            let what = match self.scope.probe {
                                Some(_) => format!("a value of type {}", other.type_name()),
                                None => other.to_text(),
                            };
                            return Err(self.fail(
                                first.pos,
                                p.cmds.last().map_or(first.end, |c| c.end),
                                format!("range can't iterate over {what}"),
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.nodes(els, dot)?;
                    }
                    for (i, elem) in items.into_iter().enumerate() {
                        let saved = self.vars.len();
                        match p.decl.as_slice() {
                            [x] => self.vars.push((x.clone(), elem.clone())),
                            [k, x] => {
                                self.vars.push((k.clone(), Value::Int(i as i64)));
                                self.vars.push((x.clone(), elem.clone()));
                            }
                            _ => {}
                        }
                        self.nodes(body, &elem)?;
                        self.vars.truncate(saved);
                    }
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value<'a>) -> Result<Value<'a>, String> {
        let mut last: Option<Value<'a>> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(
        &mut self,
        cmd: &Cmd,
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> Result<Value<'a>, String> {
        let head = &cmd.args[0];
        let rest = &cmd.args[1..];
        match &head.kind {
            ArgKind::Func(name) => self.call(name, cmd, head, rest, dot, last),
            ArgKind::Field(names) if !names.is_empty() => {
                self.field_call(dot, names, head, rest, dot, last)
            }
            ArgKind::Var(v, names) if !names.is_empty() => {
                let base = self.var(v);
                self.field_call(&base, names, head, rest, dot, last)
            }
            _ => {
                if !rest.is_empty() || last.is_some() {
                    return Err(self.fail(
                        head.pos,
                        head.end,
                        format!(
                            "can't give argument to non-function {}",
                            &self.src[head.pos..head.end]
                        ),
                    ));
                }
                if let ArgKind::Nil = head.kind {
                    return Err(self.fail(head.pos, head.end, "nil is not a command"));
                }
                self.operand(head, dot)
            }
        }
    }

    fn var(&self, name: &str) -> Value<'a> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(Value::Nil, |(_, v)| v.clone())
    }

    /// An operand's value, as an argument.
    fn operand(&mut self, a: &Arg, dot: &Value<'a>) -> Result<Value<'a>, String> {
        Ok(match &a.kind {
            ArgKind::Field(names) if names.is_empty() => dot.clone(),
            ArgKind::Field(names) => self.field_call(dot, names, a, &[], dot, None)?,
            ArgKind::Var(v, names) => {
                let base = self.var(v);
                if names.is_empty() {
                    base
                } else {
                    self.field_call(&base, names, a, &[], dot, None)?
                }
            }
            ArgKind::Func(name) => {
                let cmd = Cmd {
                    pos: a.pos,
                    end: a.end,
                    args: vec![a.clone()],
                };
                self.call(name, &cmd, a, &[], dot, None)?
            }
            ArgKind::Str(s) => Value::Str(s.clone()),
            ArgKind::Num {
                int: Some(i),
                is_float: false,
                ..
            } => Value::Int(*i),
            ArgKind::Num { float, .. } => Value::Float(*float),
            ArgKind::Bool(b) => Value::Bool(*b),
            ArgKind::Nil => Value::Nil,
            ArgKind::Pipe(p) => self.pipe(p, dot)?,
        })
    }

    /// `.A.B args...` on `base`: the last name may take arguments (`.Label "k"`).
    fn field_call(
        &mut self,
        base: &Value<'a>,
        names: &[String],
        node: &Arg,
        rest: &[Arg],
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> Result<Value<'a>, String> {
        let mut v = base.clone();
        for (i, name) in names.iter().enumerate() {
            let final_name = i + 1 == names.len();
            let nargs = if final_name {
                rest.len() + usize::from(last.is_some())
            } else {
                0
            };
            v = match &v {
                Value::Row(_) | Value::Header => {
                    let header = matches!(v, Value::Header);
                    if name == LABELS_KEY && self.scope.labels() {
                        if nargs != 1 {
                            return Err(self.fail_at(
                                node.at,
                                node.pos,
                                node.end,
                                format!("wrong number of args for Label: want 1 got {nargs}"),
                            ));
                        }
                        let key = self.label_arg(rest, dot, last.clone(), node)?;
                        match &v {
                            Value::Row(_) if self.scope.probe.is_some() => {
                                Value::Str(self.scope.probe.unwrap_or_default().to_string())
                            }
                            Value::Row(row) => label_value(row, &key),
                            _ => Value::Str(label_header(&key)),
                        }
                    } else if self
                        .scope
                        .fields
                        .is_some_and(|f| !f.contains(&name.as_str()))
                    {
                        return Err(self.fail_at(
                            node.at,
                            node.pos,
                            node.end,
                            format!(
                                "can't evaluate field {name} (fields: {})",
                                self.scope.fields.unwrap_or_default().join(", ")
                            ),
                        ));
                    } else if nargs != 0 {
                        return Err(self.fail_at(
                            node.at,
                            node.pos,
                            node.end,
                            format!("wrong number of args for {name}: want 0 got {nargs}"),
                        ));
                    } else if header {
                        Value::Str(self.header.map_or(String::new(), |h| h(name)))
                    } else if let Some(probe) = self.scope.probe {
                        Value::Str(probe.to_string())
                    } else {
                        match &v {
                            Value::Row(row) => match row.get(name.as_str()) {
                                Some(Cell::Text(t)) => Value::Str(t.clone()),
                                Some(Cell::Json(j)) if j == "null" => Value::Nil,
                                Some(Cell::Json(j)) => Value::Raw(j.clone()),
                                Some(Cell::Labels(_)) | None => Value::Str(String::new()),
                            },
                            _ => Value::Nil,
                        }
                    }
                }
                other => {
                    return Err(self.fail_at(
                        node.at,
                        node.pos,
                        node.end,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(v)
    }

    fn label_arg(
        &mut self,
        rest: &[Arg],
        dot: &Value<'a>,
        last: Option<Value<'a>>,
        head: &Arg,
    ) -> Result<String, String> {
        let mut args = self.args(rest, &[Want::Str], dot, last, head)?;
        match args.pop() {
            Some(Value::Str(s)) => Ok(s),
            _ => Ok(String::new()),
        }
    }

    /// Evaluates arguments against parameter types (the last one repeats, for variadic
    /// functions), with Go's messages for a wrong type.
    fn args(
        &mut self,
        rest: &[Arg],
        wants: &[Want],
        dot: &Value<'a>,
        last: Option<Value<'a>>,
        head: &Arg,
    ) -> Result<Vec<Value<'a>>, String> {
        let mut out = Vec::with_capacity(rest.len() + 1);
        for (i, a) in rest.iter().enumerate() {
            let want = *wants.get(i).or(wants.last()).unwrap_or(&Want::Any);
            // Constants are typed by the parameter, with Go's parse-time words.
            let v = match (&a.kind, want) {
                (ArgKind::Num { .. } | ArgKind::Bool(_) | ArgKind::Nil, Want::Str) => {
                    return Err(self.fail(
                        a.pos,
                        a.end,
                        format!("expected string; found {}", &self.src[a.pos..a.end]),
                    ));
                }
                (ArgKind::Str(_) | ArgKind::Bool(_) | ArgKind::Nil, Want::Int) => {
                    return Err(self.fail(
                        a.pos,
                        a.end,
                        format!("expected integer; found {}", &self.src[a.pos..a.end]),
                    ));
                }
                (ArgKind::Str(_) | ArgKind::Num { .. } | ArgKind::Bool(_), Want::List) => {
                    return Err(self.fail(
                        a.pos,
                        a.end,
                        format!(
                            "can't handle {} for arg of type []string",
                            &self.src[a.pos..a.end]
                        ),
                    ));
                }
                (ArgKind::Num { int: None, .. }, Want::Int) => {
                    return Err(self.fail(
                        a.pos,
                        a.end,
                        format!("expected integer; found {}", &self.src[a.pos..a.end]),
                    ));
                }
                (ArgKind::Num { int: Some(i), .. }, Want::Int) => Value::Int(*i),
                _ => self.operand(a, dot)?,
            };
            self.check_type(&v, want, a.pos, a.end)?;
            out.push(v);
        }
        if let Some(v) = last {
            let want = *wants.get(out.len()).or(wants.last()).unwrap_or(&Want::Any);
            self.check_type(&v, want, head.pos, head.end)?;
            out.push(v);
        }
        Ok(out)
    }

    fn check_type(&self, v: &Value<'a>, want: Want, pos: usize, end: usize) -> Result<(), String> {
        if type_ok(v, want) {
            return Ok(());
        }
        Err(self.fail(
            pos,
            end,
            format!(
                "wrong type for value; expected {}; got {}",
                want_name(want),
                v.type_name()
            ),
        ))
    }

    fn call(
        &mut self,
        name: &str,
        cmd: &Cmd,
        head: &Arg,
        rest: &[Arg],
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> Result<Value<'a>, String> {
        let given = rest.len() + usize::from(last.is_some());
        let arity = |want: usize| -> Result<(), String> {
            if given != want {
                return Err(self.fail(
                    head.pos,
                    head.end,
                    format!("wrong number of args for {name}: want {want} got {given}"),
                ));
            }
            Ok(())
        };
        let at_least = |want: usize| -> Result<(), String> {
            if given < want {
                return Err(self.fail(
                    head.pos,
                    head.end,
                    format!("wrong number of args for {name}: want at least {want} got {given}"),
                ));
            }
            Ok(())
        };
        // In a header, the text functions hand the column name back unchanged.
        let header = self.header.is_some();
        let s = |v: &Value<'a>| match v {
            Value::Str(s) | Value::Raw(s) => s.clone(),
            other => other.to_text(),
        };
        let int = |v: &Value<'a>| match v {
            Value::Int(i) => *i,
            _ => 0,
        };
        match name {
            // Go evaluates `and`/`or` lazily: the first argument that decides is the value.
            "and" | "or" => {
                at_least(1)?;
                let mut v = Value::Nil;
                for a in rest {
                    v = self.operand(a, dot)?;
                    if v.truth() == (name == "or") {
                        return Ok(v);
                    }
                }
                if let Some(l) = last {
                    v = l;
                }
                Ok(v)
            }
            "not" => {
                arity(1)?;
                let v = self.args(rest, &[Want::Any], dot, last, head)?;
                Ok(Value::Bool(!v[0].truth()))
            }
            "len" => {
                arity(1)?;
                let v = self.args(rest, &[Want::Any], dot, last, head)?;
                match &v[0] {
                    Value::Str(s) | Value::Raw(s) => Ok(Value::Int(s.len() as i64)),
                    Value::List(l) => Ok(Value::Int(l.len() as i64)),
                    other => Err(self.fail(
                        cmd.pos,
                        cmd.end,
                        format!("error calling len: len of type {}", other.type_name()),
                    )),
                }
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                if name == "eq" {
                    at_least(1)?;
                } else {
                    arity(2)?;
                }
                let v = self.args(rest, &[Want::Any], dot, last, head)?;
                let fail =
                    |m: &str| self.fail(cmd.pos, cmd.end, format!("error calling {name}: {m}"));
                if name == "eq" {
                    if v.len() < 2 {
                        return Err(fail("missing argument for comparison"));
                    }
                    for b in &v[1..] {
                        match compare(&v[0], b) {
                            Ok(std::cmp::Ordering::Equal) => return Ok(Value::Bool(true)),
                            Ok(_) => {}
                            Err(m) => return Err(fail(m)),
                        }
                    }
                    return Ok(Value::Bool(false));
                }
                let ordered = |x: &Value<'_>| {
                    matches!(
                        x,
                        Value::Str(_) | Value::Raw(_) | Value::Int(_) | Value::Float(_)
                    )
                };
                if name != "ne" && !(ordered(&v[0]) && ordered(&v[1])) {
                    return Err(fail("invalid type for comparison"));
                }
                let ord = compare(&v[0], &v[1]).map_err(fail)?;
                use std::cmp::Ordering::*;
                Ok(Value::Bool(match name {
                    "ne" => ord != Equal,
                    "lt" => ord == Less,
                    "le" => ord != Greater,
                    "gt" => ord == Greater,
                    _ => ord != Less,
                }))
            }
            "print" | "println" => {
                let v = self.args(rest, &[Want::Any], dot, last, head)?;
                let mut out = String::new();
                for (i, x) in v.iter().enumerate() {
                    if i > 0 && (name == "println" || !(x.is_string() || v[i - 1].is_string())) {
                        out.push(' ');
                    }
                    x.print(&mut out);
                }
                if name == "println" {
                    out.push('\n');
                }
                Ok(Value::Str(out))
            }
            "printf" => {
                at_least(1)?;
                let mut wants = vec![Want::Str];
                wants.push(Want::Any);
                let v = self.args(rest, &wants, dot, last, head)?;
                Ok(Value::Str(sprintf(&s(&v[0]), &v[1..])))
            }
            "json" => {
                arity(1)?;
                let want = if header { Want::Str } else { Want::Any };
                let v = self.args(rest, &[want], dot, last, head)?;
                if header {
                    return Ok(v[0].clone());
                }
                Ok(Value::Str(to_json(&v[0])))
            }
            "upper" | "lower" | "title" => {
                arity(1)?;
                let v = self.args(rest, &[Want::Str], dot, last, head)?;
                let t = s(&v[0]);
                if header {
                    return Ok(Value::Str(t));
                }
                Ok(Value::Str(match name {
                    "upper" => go_upper(&t),
                    "lower" => go_lower(&t),
                    _ => go_title(&t),
                }))
            }
            "split" => {
                arity(2)?;
                let v = self.args(rest, &[Want::Str, Want::Str], dot, last, head)?;
                if header {
                    return Ok(Value::Str(s(&v[0])));
                }
                let (text, sep) = (s(&v[0]), s(&v[1]));
                let parts: Vec<String> = if sep.is_empty() {
                    text.chars().map(String::from).collect()
                } else {
                    text.split(sep.as_str()).map(String::from).collect()
                };
                Ok(Value::List(parts))
            }
            "join" => {
                arity(2)?;
                let first = if header { Want::Str } else { Want::List };
                let v = self.args(rest, &[first, Want::Str], dot, last, head)?;
                match &v[0] {
                    Value::List(l) => Ok(Value::Str(l.join(&s(&v[1])))),
                    other => Ok(Value::Str(s(other))),
                }
            }
            "truncate" => {
                arity(2)?;
                let v = self.args(rest, &[Want::Str, Want::Int], dot, last, head)?;
                let (text, n) = (s(&v[0]), int(&v[1]));
                if header {
                    return Ok(Value::Str(text));
                }
                if (text.len() as i64) < n {
                    return Ok(Value::Str(text));
                }
                if n < 0 {
                    return Err(self.fail(
                        cmd.pos,
                        cmd.end,
                        format!(
                            "error calling truncate: runtime error: slice bounds out of range [:{n}]"
                        ),
                    ));
                }
                // Go slices bytes: a cut inside a character leaves a broken one.
                let bytes = &text.as_bytes()[..n as usize];
                Ok(Value::Str(String::from_utf8_lossy(bytes).into_owned()))
            }
            "pad" => {
                arity(3)?;
                let v = self.args(rest, &[Want::Str, Want::Int, Want::Int], dot, last, head)?;
                let text = s(&v[0]);
                if text.is_empty() {
                    return Ok(Value::Str(text));
                }
                let (l, r) = (int(&v[1]), int(&v[2]));
                if l < 0 || r < 0 {
                    return Err(self.fail(
                        cmd.pos,
                        cmd.end,
                        "error calling pad: strings: negative Repeat count",
                    ));
                }
                let pad = |n: i64| " ".repeat(n.min(1 << 16) as usize);
                Ok(Value::Str(format!("{}{text}{}", pad(l), pad(r))))
            }
            _ => Err(self.fail(head.pos, head.end, format!("function {name:?} not defined"))),
        }
    }
}

fn type_ok(v: &Value<'_>, want: Want) -> bool {
    match want {
        Want::Any => true,
        Want::Str => matches!(v, Value::Str(_) | Value::Raw(_)),
        Want::Int => matches!(v, Value::Int(_)),
        Want::List => matches!(v, Value::List(_)),
    }
}

fn want_name(w: Want) -> &'static str {
    match w {
        Want::Str => "string",
        Want::Int => "int",
        Want::List => "[]string",
        Want::Any => "interface {}",
    }
}

/// Go's `eq`/`lt` on basic kinds.
fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<std::cmp::Ordering, &'static str> {
    match (a, b) {
        (Value::Str(x) | Value::Raw(x), Value::Str(y) | Value::Raw(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).ok_or("invalid type for comparison"),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Nil, Value::Nil) => Ok(std::cmp::Ordering::Equal),
        (Value::List(_), Value::List(_)) => Err("non-comparable type"),
        _ => Err("incompatible types for comparison"),
    }
}

/// The value of label `key` (the last one, as a Go map keeps the last duplicate).
fn label_value<'a>(row: &Row, key: &str) -> Value<'a> {
    match row.get(LABELS_KEY) {
        Some(Cell::Labels(l)) => Value::Str(
            l.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map_or(String::new(), |(_, v)| v.clone()),
        ),
        _ => Value::Str(String::new()),
    }
}

/// docker's header for `.Label "com.example.some-key"`: the last dotted part, `-` and `_`
/// as spaces.
fn label_header(key: &str) -> String {
    key.rsplit('.')
        .next()
        .unwrap_or("")
        .replace(['-', '_'], " ")
}

/// docker's `json` function: Go's encoder without HTML escaping; a whole row is written by
/// its own marshaller (which escapes).
fn to_json(v: &Value<'_>) -> String {
    let mut out = String::new();
    match v {
        Value::Str(s) => json_string_as(&mut out, s, false),
        Value::Raw(r) => out.push_str(r),
        Value::List(l) => {
            out.push('[');
            for (i, s) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string_as(&mut out, s, false);
            }
            out.push(']');
        }
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::Bool(b) => out.push_str(&b.to_string()),
        Value::Nil => out.push_str("null"),
        Value::Row(r) => out.push_str(&json_object(r)),
        Value::Header => out.push_str("{}"),
    }
    out
}

fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Go writes e-07 as e-07 and e+21 as e+21.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

fn map_chars(s: &str, f: impl Fn(char) -> Option<char>) -> String {
    s.chars().map(|c| f(c).unwrap_or(c)).collect()
}

/// `strings.ToUpper`: a character's single-character upper case (Go keeps `ß`).
fn go_upper(s: &str) -> String {
    map_chars(s, |c| {
        let mut u = c.to_uppercase();
        match (u.next(), u.next()) {
            (Some(x), None) => Some(x),
            _ => None,
        }
    })
}

fn go_lower(s: &str) -> String {
    map_chars(s, |c| c.to_lowercase().next())
}

/// `strings.Title`: the first letter of every word in title case; a word starts after a
/// character that is neither a letter, a digit nor `_`.
fn go_title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if sep(prev) {
                let mut u = c.to_uppercase();
                match (u.next(), u.next()) {
                    (Some(x), None) => x,
                    _ => c,
                }
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// Go's `fmt.Sprintf` for the verbs format strings use: `%s %q %v %d %x %X %f %e %g %t %c
/// %%`, flags `-+ 0#`, width and precision (also `*`).
fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, next: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = match args.get(*next) {
                    Some(Value::Int(i)) => Some(*i),
                    _ => None,
                };
                *next += 1;
                return v.map(|v| v.unsigned_abs() as usize);
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(
                    n.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(d as usize)
                        .min(1 << 16),
                );
                chars.next();
            }
            n
        };
        let width = num(&mut chars, &mut next);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(num(&mut chars, &mut next).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let spec = Spec {
            minus,
            plus,
            zero,
            space,
            sharp,
            width,
            prec,
        };
        out.push_str(&format_one(verb, arg, &spec));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.type_name(), a.to_text());
        }
        out.push(')');
    }
    out
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    /// Pads to the width (counted in characters, as Go counts runes).
    fn pad(&self, s: String, numeric: bool) -> String {
        let Some(w) = self.width else { return s };
        let n = s.chars().count();
        if n >= w {
            return s;
        }
        let fill = w - n;
        if self.minus {
            return s + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let (sign, digits) = match s.strip_prefix(['-', '+', ' ']) {
                Some(d) => (&s[..1], d),
                None => ("", s.as_str()),
            };
            return format!("{sign}{}{digits}", "0".repeat(fill));
        }
        if self.zero && !numeric {
            return "0".repeat(fill) + &s;
        }
        " ".repeat(fill) + &s
    }

    fn sign(&self, neg: bool, body: String) -> String {
        if neg {
            format!("-{body}")
        } else if self.plus {
            format!("+{body}")
        } else if self.space {
            format!(" {body}")
        } else {
            body
        }
    }
}

fn bad_verb(verb: char, arg: &Value<'_>) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_text()),
    }
}

fn format_one(verb: char, arg: &Value<'_>, spec: &Spec) -> String {
    if let Value::List(l) = arg {
        // Go formats a slice's elements one by one inside brackets.
        let items: Vec<String> = l
            .iter()
            .map(|s| {
                format_one(
                    verb,
                    &Value::Str(s.clone()),
                    &Spec {
                        width: spec.width,
                        prec: spec.prec,
                        ..*spec
                    },
                )
            })
            .collect();
        return format!("[{}]", items.join(" "));
    }
    match (verb, arg) {
        ('v', Value::Str(_) | Value::Raw(_) | Value::Bool(_) | Value::Nil | Value::Row(_)) => {
            spec.pad(arg.to_text(), false)
        }
        ('v' | 'd', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, i.unsigned_abs().to_string()), true)
        }
        ('v', Value::Float(f)) => spec.pad(spec.sign(*f < 0.0, go_float(f.abs())), true),
        ('s', Value::Str(s) | Value::Raw(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            spec.pad(s, false)
        }
        ('q', Value::Str(s) | Value::Raw(s)) => {
            let q = if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            };
            spec.pad(q, false)
        }
        ('x' | 'X', Value::Str(s) | Value::Raw(s)) => {
            let mut h = String::new();
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(h, "{b:02x}")
                } else {
                    write!(h, "{b:02X}")
                };
            }
            spec.pad(h, false)
        }
        ('x', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:x}", i.unsigned_abs())), true)
        }
        ('X', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:X}", i.unsigned_abs())), true)
        }
        ('o', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:o}", i.unsigned_abs())), true)
        }
        ('b', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:b}", i.unsigned_abs())), true)
        }
        ('c', Value::Int(i)) => spec.pad(
            char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
            false,
        ),
        ('f' | 'F', Value::Float(f)) => {
            let p = spec.prec.unwrap_or(6);
            spec.pad(
                spec.sign(
                    f.is_sign_negative() && *f != 0.0,
                    format!("{:.p$}", f.abs()),
                ),
                true,
            )
        }
        ('e', Value::Float(f)) => {
            let p = spec.prec.unwrap_or(6);
            let s = format!("{:.p$e}", f.abs());
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            spec.pad(spec.sign(*f < 0.0, format!("{m}e{sign}{digits:0>2}")), true)
        }
        ('g', Value::Float(f)) => spec.pad(spec.sign(*f < 0.0, go_float(f.abs())), true),
        ('t', Value::Bool(b)) => spec.pad(b.to_string(), false),
        _ => bad_verb(verb, arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value<'static> {
        Value::Str(s.into())
    }

    #[test]
    fn printf_verbs_as_go() {
        // Expected strings as docker v28 printed them.
        assert_eq!(
            sprintf(
                "%-12s|%12s|%.3s|%t",
                &[
                    v("i13-tmpl-d"),
                    v("i13-tmpl-d"),
                    v("i13-tmpl-d"),
                    Value::Bool(true)
                ]
            ),
            "i13-tmpl-d  |  i13-tmpl-d|i13|true"
        );
        assert_eq!(sprintf("%d %s", &[]), "%!d(MISSING) %!s(MISSING)");
        assert_eq!(
            sprintf("%s", &[Value::Int(1), Value::Int(2)]),
            "%!s(int=1)%!(EXTRA int=2)"
        );
        assert_eq!(sprintf("%d", &[v("i13-tmpl-c")]), "%!d(string=i13-tmpl-c)");
        assert_eq!(
            sprintf(
                "%6.2f|%-8d|%08.3f|%+d",
                &[
                    Value::Float(1.23456),
                    Value::Int(42),
                    Value::Float(1.23456),
                    Value::Int(5)
                ]
            ),
            "  1.23|42      |0001.235|+5"
        );
        assert_eq!(
            sprintf("%v %s", &[Value::Float(1.5), Value::Float(2.0)]),
            "1.5 %!s(float64=2)"
        );
        assert_eq!(
            sprintf(
                "%q|%x",
                &[Value::List(vec!["i13".into(), "tmpl".into()]), v("i1")]
            ),
            "[\"i13\" \"tmpl\"]|6931"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn text_functions_as_go() {
        assert_eq!(
            go_title("hello wORLD-foo bar_baz"),
            "Hello WORLD-Foo Bar_baz"
        );
        assert_eq!(go_upper("straße"), "STRAßE");
        assert_eq!(go_lower("ÀB"), "àb");
        assert_eq!(label_header("com.example.some-key_x"), "some key x");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.5), "0.5");
    }
}
