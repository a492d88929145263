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

mod exec;
mod funcs;
mod parse;

use funcs::go_float;

impl Template {
    /// Parses `src` (with `\t` and `\n` already replaced, as docker does).
    pub(crate) fn parse(src: &str) -> Result<Template, String> {
        Ok(Template {
            src: src.to_string(),
            nodes: parse::parse(src)?,
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
        let (done, out) = exec::run(&self.src, &self.nodes, scope, None, Value::Row(row));
        done.map(|()| out)
    }

    /// Renders the table header as docker does: the template run over the header names with
    /// the text functions left out; what was written before an error is kept.
    pub(crate) fn render_header(
        &self,
        scope: &Scope<'_>,
        header: &dyn Fn(&str) -> String,
    ) -> String {
        exec::run(&self.src, &self.nodes, scope, Some(header), Value::Header).1
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

#[cfg(test)]
mod tests;
