//! Plain-text output: aligned tables and byte counts in binary units, for
//! curl and httpie.

use std::fmt::Write;

/// How a column lines up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table printed with a header, a rule of `=` and aligned columns.
#[derive(Debug)]
pub(crate) struct TextTable {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
    footer: Vec<Vec<String>>,
}

impl TextTable {
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
            footer: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Says how many rows `limit=` left out, if any.
    pub(crate) fn omitted_rows(&mut self, omitted: usize) {
        if omitted > 0 {
            self.rows
                .push(vec![format!("({omitted} more rows: raise limit=)")]);
        }
    }

    /// A line under a second rule, such as a total.
    pub(crate) fn footer(&mut self, cells: Vec<String>) {
        self.footer.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| name.len()).collect();
        for row in self.rows.iter().chain(&self.footer) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        self.line(&mut out, &header, &widths);
        self.rule(&mut out, &widths);
        for row in &self.rows {
            self.line(&mut out, row, &widths);
        }
        if !self.footer.is_empty() {
            self.rule(&mut out, &widths);
            for row in &self.footer {
                self.line(&mut out, row, &widths);
            }
        }
        out
    }

    fn line(&self, out: &mut String, cells: &[String], widths: &[usize]) {
        let mut line = String::new();
        for (index, ((_, align), width)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(index).map(String::as_str).unwrap_or("");
            if index > 0 {
                line.push_str(" | ");
            }
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}"),
                Align::Right => write!(line, "{cell:>width$}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }

    fn rule(&self, out: &mut String, widths: &[usize]) {
        let parts: Vec<String> = widths.iter().map(|width| "=".repeat(*width)).collect();
        out.push_str(&parts.join("=|="));
        out.push('\n');
    }
}

/// `1536` → `1.50 KiB`. Binary units, since page sizes and size classes are
/// powers of two.
pub(crate) fn human_bytes(bytes: u64) -> String {
    human_bytes_f64(bytes as f64)
}

/// As [`human_bytes`], signed: `+1.50 KiB`, `-512 B`.
pub(crate) fn human_bytes_signed(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(bytes.unsigned_abs()))
}

pub(crate) fn human_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// As [`grouped`], signed.
pub(crate) fn grouped_signed(number: i64) -> String {
    let sign = if number < 0 { "-" } else { "+" };
    format!("{sign}{}", grouped(number.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_counts() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(100 * 1024 * 1024), "100.00 MiB");
        assert_eq!(human_bytes_signed(-512), "-512 B");
        assert_eq!(grouped_signed(-1000), "-1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn aligns_columns() {
        let mut table = TextTable::new(&[("name", Align::Left), ("bytes", Align::Right)]);
        table.row(vec!["a".into(), "1".into()]);
        table.row(vec!["longer".into(), "1000".into()]);
        table.footer(vec!["total".into(), "1001".into()]);
        assert_eq!(
            table.render(),
            "name   | bytes\n=======|======\na      |     1\nlonger |  1000\n=======|======\ntotal  |  1001\n"
        );
    }
}
