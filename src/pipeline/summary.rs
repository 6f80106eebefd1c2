//! The Markdown summary attached to the run with `task.uploadsummary`.

/// Escape text for a Markdown table cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A Markdown document built section by section.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    text: String,
}

impl Summary {
    pub fn heading(&mut self, level: usize, title: &str) -> &mut Self {
        self.text
            .push_str(&format!("{} {}\n\n", "#".repeat(level.clamp(1, 6)), title));
        self
    }

    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text.trim_end());
        self.text.push_str("\n\n");
        self
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> &mut Self {
        self.text.push_str(&format!("| {} |\n", header.join(" | ")));
        self.text
            .push_str(&format!("|{}\n", "---|".repeat(header.len())));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            self.text.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        self.text.push('\n');
        self
    }

    /// A fenced block; the fence grows past any backtick run in the content.
    pub fn code(&mut self, lang: &str, body: &str) -> &mut Self {
        let mut fence = "```".to_owned();
        while body.contains(&fence) {
            fence.push('`');
        }
        self.text
            .push_str(&format!("{fence}{lang}\n{}\n{fence}\n\n", body.trim_end()));
        self
    }

    pub fn details(&mut self, title: &str, lang: &str, body: &str) -> &mut Self {
        self.text
            .push_str(&format!("<details><summary>{}</summary>\n\n", cell(title)));
        self.code(lang, body);
        self.text.push_str("</details>\n\n");
        self
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_pipes_and_newlines() {
        let mut s = Summary::default();
        s.table(&["a", "b"], &[vec!["x|y".into(), "1\n2".into()]]);
        assert_eq!(s.as_str(), "| a | b |\n|---|---|\n| x\\|y | 1 2 |\n\n");
    }

    #[test]
    fn code_fence_outgrows_content() {
        let mut s = Summary::default();
        s.code("", "a ``` b");
        assert!(s.as_str().starts_with("````\n"));
    }
}
