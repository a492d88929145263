//! `--format` for listings, as the docker CLI reads it: `table` (the default columns), `json`
//! (one JSON object per line, keys sorted, string values), `table TEMPLATE` (a header row and
//! aligned columns) or a bare `TEMPLATE` (one line per row).
//!
//! Templates support the part of Go's text/template that docker format strings use in
//! practice: `{{.Field}}` and `{{json .}}`, with `\t` and `\n` escapes. Columns are aligned as
//! Go's `tabwriter` with the docker CLI's settings (minimum width 10, padding 3) aligns them.

use std::collections::BTreeMap;
use std::io::{self, Write};

/// One listing row: field name to its rendered value.
pub(crate) type Row = BTreeMap<&'static str, Cell>;

/// A rendered field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    /// Text, written as a JSON string in `json` output.
    Text(String),
    /// A JSON value written as is in `json` output (docker's `null` or an object); templates
    /// print `null` as Go prints a nil pointer, `<nil>`.
    Json(String),
}

impl Cell {
    fn text(&self) -> &str {
        match self {
            Cell::Text(t) => t,
            Cell::Json(j) if j == "null" => "<nil>",
            Cell::Json(j) => j,
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Field(String),
    JsonRow,
}

/// A parsed `--format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Template { table: bool, pieces: Vec<Piece> },
}

impl Format {
    /// Parses a `--format` value; `default_table` is the template behind plain `table`.
    pub(crate) fn parse(spec: &str, default_table: &str) -> Result<Format, String> {
        let spec = spec.trim();
        if spec == "json" {
            return Ok(Format::Json);
        }
        let (table, template) = if spec == "table" || spec.is_empty() {
            (true, default_table)
        } else if let Some(rest) = spec.strip_prefix("table ") {
            (true, rest.trim())
        } else {
            (false, spec)
        };
        let template = template.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format::Template {
            table,
            pieces: parse_template(&template)?,
        })
    }

    /// Checks that every field the template names exists in `fields`.
    pub(crate) fn check_fields(&self, fields: &[&str]) -> Result<(), String> {
        if let Format::Template { pieces, .. } = self {
            for p in pieces {
                if let Piece::Field(name) = p {
                    if !fields.contains(&name.as_str()) {
                        return Err(format!(
                            "template: can't evaluate field {name} (known: {})",
                            fields.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the output uses `field` (docker asks the daemon for sizes only when shown).
    pub(crate) fn uses(&self, field: &str) -> bool {
        match self {
            Format::Json => true,
            Format::Template { pieces, .. } => pieces.iter().any(|p| match p {
                Piece::Field(f) => f == field,
                Piece::JsonRow => true,
                Piece::Text(_) => false,
            }),
        }
    }

    /// Writes `rows`; `header` names the column of a field in a table header.
    pub(crate) fn write(
        &self,
        out: &mut dyn Write,
        rows: &[Row],
        header: &dyn Fn(&str) -> String,
    ) -> io::Result<()> {
        match self {
            Format::Json => {
                for row in rows {
                    let mut line = json_object(row);
                    line.push('\n');
                    out.write_all(line.as_bytes())?;
                }
                Ok(())
            }
            Format::Template { table, pieces } => {
                let mut text = String::new();
                if *table {
                    for p in pieces {
                        match p {
                            Piece::Text(t) => text.push_str(t),
                            Piece::Field(f) => text.push_str(&header(f)),
                            Piece::JsonRow => {}
                        }
                    }
                    text.push('\n');
                }
                for row in rows {
                    for p in pieces {
                        match p {
                            Piece::Text(t) => text.push_str(t),
                            Piece::Field(f) => {
                                text.push_str(row.get(f.as_str()).map_or("", Cell::text))
                            }
                            Piece::JsonRow => text.push_str(&json_object(row)),
                        }
                    }
                    text.push('\n');
                }
                // Only tables go through tabwriter; a bare template is printed as written.
                if *table {
                    text = align(&text);
                }
                out.write_all(text.as_bytes())
            }
        }
    }
}

fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {t:?}"))?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let piece = if action == "json ." {
            Piece::JsonRow
        } else if let Some(field) = action.strip_prefix('.') {
            if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("template: unsupported action {{{{{action}}}}}"));
            }
            Piece::Field(field.to_string())
        } else {
            return Err(format!(
                "template: unsupported action {{{{{action}}}}} (dockstat supports {{{{.Field}}}} and {{{{json .}}}})"
            ));
        };
        pieces.push(piece);
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// Aligns tab-separated cells as `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` does: every cell
/// followed by a tab is padded to its column's width (the widest cell plus 3, at least 10);
/// the text after a line's last tab is written as is.
pub(crate) fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    // tabwriter aligns a column over a block of consecutive lines that all have that cell.
    let mut i = 0;
    while i < lines.len() {
        if lines[i].len() <= 1 {
            out.push_str(lines[i].first().copied().unwrap_or(""));
            out.push('\n');
            i += 1;
            continue;
        }
        let mut j = i;
        while j < lines.len() && lines[j].len() > 1 {
            j += 1;
        }
        let block = &lines[i..j];
        let columns = block.iter().map(Vec::len).max().unwrap_or(1) - 1;
        let mut widths = vec![0usize; columns];
        for (c, w) in widths.iter_mut().enumerate() {
            // Column c spans the lines of the block that have a tab after cell c; tabwriter
            // restarts a column at a line without it, which docker's uniform rows never have.
            *w = block
                .iter()
                .filter(|l| l.len() > c + 1)
                .map(|l| l[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10);
        }
        for line in block {
            for (c, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if c + 1 < line.len() {
                    let pad = widths[c].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        i = j;
    }
    out
}

/// A row as a JSON object with sorted keys, as Go's `json.Marshal` writes a `map[string]any`.
pub(crate) fn json_object(row: &Row) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in row.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_string(&mut s, k);
        s.push(':');
        match v {
            Cell::Text(t) => json_string(&mut s, t),
            Cell::Json(raw) => s.push_str(raw),
        }
    }
    s.push('}');
    s
}

/// Appends `v` as a JSON string escaped as Go's encoding/json does (HTML-safe: `<`, `>`, `&`
/// as `\u003c` …, and U+2028/U+2029 escaped).
pub(crate) fn json_string(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_alignment() {
        let text = "CONTAINER ID\tIMAGE\tNAMES\nb3fe0c9afa00\tbb\tpaused\n";
        assert_eq!(
            align(text),
            "CONTAINER ID   IMAGE     NAMES\nb3fe0c9afa00   bb        paused\n"
        );
    }

    #[test]
    fn templates() {
        let f = Format::parse("table {{.ID}}\\t{{ .Names }}", "").unwrap();
        let mut row = Row::new();
        row.insert("ID", "abc".into());
        row.insert("Names", "x".into());
        let mut bare = Vec::new();
        Format::parse("{{.ID}}\\t{{.Names}}", "")
            .unwrap()
            .write(&mut bare, &[row.clone()], &|f| f.into())
            .unwrap();
        assert_eq!(String::from_utf8(bare).unwrap(), "abc\tx\n");
        let mut out = Vec::new();
        f.write(&mut out, &[row.clone()], &|f| f.to_uppercase())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID        NAMES\nabc       x\n"
        );
        assert!(f.check_fields(&["ID"]).is_err());
        assert!(Format::parse("{{range .}}", "").is_err());
        let mut out = Vec::new();
        Format::Json.write(&mut out, &[row], &|f| f.into()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"x\"}\n"
        );
        let mut s = String::new();
        json_string(&mut s, "<a&b>\u{1}");
        assert_eq!(s, "\"\\u003ca\\u0026b\\u003e\\u0001\"");
    }
}
