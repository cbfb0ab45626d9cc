//! A reader for the subset of Gherkin the openCypher TCK uses.
//!
//! The `gherkin` crate rejects one TCK file (a table cell holding `'\''`), and the TCK needs
//! only a handful of constructs, so a purpose-built reader is smaller than working around it:
//! `Feature`, `Background`, `Scenario`, `Scenario Outline` with `Examples` tables, steps with
//! docstrings or tables, comments and tags. Outlines are expanded here, so everything
//! downstream sees plain scenarios.

/// One step: its text without the keyword, and its argument.
#[derive(Clone, Debug)]
pub struct Step {
    /// E.g. `having executed:`.
    pub text: String,
    /// The docstring or table that follows the step, if any.
    pub arg: StepArg,
}

/// What follows a step line.
#[derive(Clone, Debug)]
pub enum StepArg {
    /// Nothing.
    None,
    /// A `"""` block, with the indentation of its opening delimiter removed.
    DocString(String),
    /// A `|`-table, cells unescaped and trimmed.
    Table(Vec<Vec<String>>),
}

/// A scenario with outline placeholders already substituted.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's title, with ` #n` appended for the n-th example of an outline.
    pub name: String,
    /// 1-based line of the `Scenario` keyword, for locating it in the file.
    pub line: usize,
    /// Background steps, then the scenario's own.
    pub steps: Vec<Step>,
}

/// A block being read: a scenario, an outline (with its examples) or the background.
struct Block {
    name: String,
    line: usize,
    steps: Vec<Step>,
    /// `Some` for outlines: header row first, then one row per example.
    examples: Option<Vec<Vec<String>>>,
}

/// Parses a feature file into its (expanded) scenarios.
pub fn parse(text: &str) -> Result<Vec<Scenario>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut background: Vec<Step> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    let mut in_background = false;
    let mut in_examples = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let number = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if line.starts_with("Feature:") {
            continue;
        }
        if line.starts_with("Background:") {
            in_background = true;
            in_examples = false;
            continue;
        }
        if let Some(name) = line
            .strip_prefix("Scenario Outline:")
            .or_else(|| line.strip_prefix("Scenario Template:"))
        {
            blocks.push(Block::new(name, number, Some(Vec::new())));
            (in_background, in_examples) = (false, false);
            continue;
        }
        if let Some(name) = line.strip_prefix("Scenario:") {
            blocks.push(Block::new(name, number, None));
            (in_background, in_examples) = (false, false);
            continue;
        }
        if line.starts_with("Examples:") || line.starts_with("Scenarios:") {
            in_examples = true;
            continue;
        }
        let steps = if in_background {
            &mut background
        } else {
            match blocks.last_mut() {
                Some(block) => {
                    if in_examples && line.starts_with('|') {
                        let examples = block.examples.get_or_insert_with(Vec::new);
                        let row = table_row(line);
                        // Every `Examples:` block repeats the header; keep only the first.
                        if examples.first() != Some(&row) {
                            examples.push(row);
                        }
                        continue;
                    }
                    &mut block.steps
                }
                None => continue, // free-form feature description
            }
        };
        if line.starts_with("\"\"\"") || line.starts_with("```") {
            let delimiter = &line[..3];
            let indent = lines[number - 1].len() - lines[number - 1].trim_start().len();
            let mut body = Vec::new();
            loop {
                let Some(raw) = lines.get(i) else {
                    return Err(format!("line {number}: docstring is not closed"));
                };
                i += 1;
                if raw.trim() == delimiter {
                    break;
                }
                body.push(strip_indent(raw, indent));
            }
            let step = steps
                .last_mut()
                .ok_or_else(|| format!("line {number}: docstring without a step"))?;
            step.arg = StepArg::DocString(body.join("\n"));
            continue;
        }
        if line.starts_with('|') {
            let step =
                steps.last_mut().ok_or_else(|| format!("line {number}: table without a step"))?;
            match &mut step.arg {
                StepArg::Table(rows) => rows.push(table_row(line)),
                arg @ StepArg::None => *arg = StepArg::Table(vec![table_row(line)]),
                StepArg::DocString(_) => {
                    return Err(format!("line {number}: table after a docstring"))
                }
            }
            continue;
        }
        let text = ["Given ", "When ", "Then ", "And ", "But ", "* "]
            .iter()
            .find_map(|keyword| line.strip_prefix(keyword));
        match text {
            Some(text) => steps.push(Step { text: text.trim().to_string(), arg: StepArg::None }),
            None if steps.is_empty() => {} // a scenario's free-form description
            None => return Err(format!("line {number}: cannot read `{line}`")),
        }
    }
    Ok(blocks.into_iter().flat_map(|block| block.expand(&background)).collect())
}

impl Block {
    fn new(name: &str, line: usize, examples: Option<Vec<Vec<String>>>) -> Block {
        Block { name: name.trim().to_string(), line, steps: Vec::new(), examples }
    }

    fn expand(self, background: &[Step]) -> Vec<Scenario> {
        let steps: Vec<Step> = background.iter().cloned().chain(self.steps).collect();
        let Some(examples) = self.examples else {
            return vec![Scenario { name: self.name, line: self.line, steps }];
        };
        let Some((header, rows)) = examples.split_first() else {
            return Vec::new();
        };
        rows.iter()
            .enumerate()
            .map(|(n, row)| {
                let substitute = |text: &str| {
                    header.iter().zip(row).fold(text.to_string(), |acc, (key, value)| {
                        acc.replace(&format!("<{key}>"), value)
                    })
                };
                let steps = steps
                    .iter()
                    .map(|step| Step {
                        text: substitute(&step.text),
                        arg: match &step.arg {
                            StepArg::None => StepArg::None,
                            StepArg::DocString(doc) => StepArg::DocString(substitute(doc)),
                            StepArg::Table(table) => StepArg::Table(
                                table
                                    .iter()
                                    .map(|r| r.iter().map(|cell| substitute(cell)).collect())
                                    .collect(),
                            ),
                        },
                    })
                    .collect();
                Scenario { name: format!("{} #{}", self.name, n + 1), line: self.line, steps }
            })
            .collect()
    }
}

/// Removes up to `indent` leading spaces, as Gherkin does for docstring lines.
fn strip_indent(line: &str, indent: usize) -> String {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    line[spaces.min(indent)..].to_string()
}

/// Splits `| a | b\|c |` into trimmed cells, applying Gherkin's escapes `\|`, `\\` and `\n`.
fn table_row(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.trim().chars();
    chars.next(); // the leading `|`
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('|') => cell.push('|'),
                Some('\\') => cell.push('\\'),
                Some('n') => cell.push('\n'),
                Some(other) => {
                    cell.push('\\');
                    cell.push(other);
                }
                None => cell.push('\\'),
            },
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            c => cell.push(c),
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_outlines_and_unescapes_cells() {
        let text = "Feature: F\n  Scenario Outline: [1] o\n    When executing query:\n      \"\"\"\n      RETURN <v> AS x\n      \"\"\"\n    Then the result should be, in any order:\n      | x |\n      | <v> |\n\n    Examples:\n      | v |\n      | 1 |\n      | '\\|\\\\' |\n";
        let scenarios = parse(text).expect("parses");
        assert_eq!(scenarios.len(), 2);
        assert_eq!(scenarios[1].name, "[1] o #2");
        match &scenarios[1].steps[0].arg {
            StepArg::DocString(doc) => assert_eq!(doc, "RETURN '|\\' AS x"),
            other => panic!("{other:?}"),
        }
    }
}
