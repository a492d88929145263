//! Running a parsed template against one row (or the header), with Go's execution errors.
use super::funcs::*;
use super::*;

/// The most a `range N` counts to (Go's has no bound; a row's text should).
const MAX_RANGE: i64 = 1 << 16;

/// Runs `nodes` with `dot` as `.` and `$`: whether it ran to the end, and what it wrote
/// (also before an error). `header`: the table header's run, the text functions left out.
pub(super) fn run<'a>(
    src: &'a str,
    nodes: &[Node],
    scope: &'a Scope<'_>,
    header: Option<&'a dyn Fn(&str) -> String>,
    dot: Value<'a>,
) -> (Result<(), String>, String) {
    let mut ex = Exec {
        src,
        scope,
        header,
        vars: vec![("$".to_string(), dot.clone())],
        out: String::new(),
    };
    let done = ex.nodes(nodes, &dot);
    (done, ex.out)
}

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
pub(super) fn label_header(key: &str) -> String {
    key.rsplit('.')
        .next()
        .unwrap_or("")
        .replace(['-', '_'], " ")
}
