//! Lexing and parsing: a template's text to the tree of [`Node`]s, with Go's parse errors.

use super::{Arg, ArgKind, Cmd, Node, Pipe};

/// Parses `src` (with `\t` and `\n` already replaced, as docker does) to its nodes.
pub(super) fn parse(src: &str) -> Result<Vec<Node>, String> {
    let mut p = Parser {
        src,
        at: 0,
        trim_next: false,
        vars: Vec::new(),
        depth: 0,
    };
    let (nodes, _) = p.list(false)?;
    Ok(nodes)
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
