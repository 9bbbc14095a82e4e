//! Plain-text output: aligned tables, for curl and httpie.

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

#[cfg(test)]
mod tests {
    use super::*;

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
