//! The live view's screen: which lines of the table fit a window of a given size, cut to its
//! width, and the bytes that draw them over the previous screen.

#![forbid(unsafe_code)]

/// What one screen of the live view holds.
pub(super) struct Layout<'a> {
    /// The table as the format wrote it.
    pub(super) block: &'a str,
    /// Its first line is a header.
    pub(super) header: bool,
    /// Rows in the block (a template may write several lines per row).
    pub(super) rendered: usize,
    /// Rows in the table: the block has the first `rendered`.
    pub(super) total: usize,
    pub(super) footer: Option<&'a str>,
    /// Status lines, as an error and what follows it.
    pub(super) status: &'a [(String, String)],
}

impl Layout<'_> {
    /// The screen's lines for a window of `size` (rows, columns): the header, as many rows
    /// as fit with `(N more)` under them when not all do, the footer, the status lines; each
    /// cut to the width, with control characters shown as `?`.
    pub(super) fn lines(&self, size: Option<(usize, usize)>) -> Vec<String> {
        let (height, width) = size.unwrap_or((usize::MAX, usize::MAX));
        let mut block: Vec<&str> = self.block.lines().collect();
        let body = block.split_off(usize::from(self.header).min(block.len()));
        let footer: Vec<&str> = self.footer.map_or(Vec::new(), |f| f.lines().collect());
        let room = height.saturating_sub(block.len() + footer.len() + self.status.len());
        // Counted in rows when each is a line, else in lines.
        let per_row = body.len() == self.rendered;
        let count = if per_row { self.total } else { body.len() };
        let mut lines: Vec<&str> = block;
        let more;
        if count <= room {
            lines.extend(&body);
        } else {
            let shown = room.saturating_sub(1).min(body.len());
            lines.extend(&body[..shown]);
            let unit = if per_row { "" } else { " lines" };
            more = format!("({} more{unit})", count - shown);
            lines.push(&more);
        }
        lines.extend(footer);
        let mut lines: Vec<String> = lines.into_iter().map(|l| cut(l, width)).collect();
        for (error, count) in self.status {
            let whole = count.chars().count() + error.chars().count();
            lines.push(if whole <= width {
                cut(&format!("{error}{count}"), width)
            } else {
                let keep = width.saturating_sub(count.chars().count() + 3);
                cut(&format!("{}...{count}", cut(error, keep)), width)
            });
        }
        lines.truncate(height);
        lines
    }
}

/// `line` in at most `width` columns, control characters as `?` (a daemon's text must not
/// move the cursor), tabs expanded.
pub(super) fn cut(line: &str, width: usize) -> String {
    let mut out = String::with_capacity(line.len().min(width));
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let next = (col / 8 + 1) * 8;
            if next > width {
                break;
            }
            out.extend(std::iter::repeat_n(' ', next - col));
            col = next;
            continue;
        }
        if col + 1 > width {
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
        col += 1;
    }
    out
}

/// A screen of lines drawn over the last one: each line at its row, cleared first; what is
/// below the last line is cleared when there is room below it. No scrolling, no flicker.
pub(super) fn paint(lines: &[String], height: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 12).sum::<usize>() + 16);
    for (i, line) in lines.iter().enumerate() {
        out.extend_from_slice(format!("\x1b[{};1H\x1b[2K", i + 1).as_bytes());
        out.extend_from_slice(line.as_bytes());
    }
    if height.is_none_or(|h| lines.len() < h) {
        out.extend_from_slice(format!("\x1b[{};1H\x1b[J", lines.len() + 1).as_bytes());
    }
    out
}
