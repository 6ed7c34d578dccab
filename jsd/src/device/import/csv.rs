//! A small RFC 4180 CSV reader that keeps line numbers: records, fields, quoting problems.
//! Only what manufacturer files need; interpreting the cells is the parent module's job.

/// One CSV record: the line it starts on, its fields, and a quoting problem if any.
pub(super) struct Record {
    /// 1-based line the record starts on.
    pub(super) line: usize,
    /// Its fields, unquoted, untrimmed.
    pub(super) fields: Vec<String>,
    /// The first quoting problem in it, if any.
    pub(super) problem: Option<&'static str>,
}

/// The separator the first line uses most among `,`, `;` and tab; `,` when none.
pub(super) fn detect_delimiter(text: &str) -> char {
    let first_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let count = |d: char| first_line.chars().filter(|&c| c == d).count();
    [';', '\t']
        .into_iter()
        .fold(',', |best, d| if count(d) > count(best) { d } else { best })
}

/// An iterator over the CSV records of a text (RFC 4180). Lines end with LF, CRLF or a lone
/// CR (Excel for Mac's "CSV (Macintosh)"), and line numbers count all three.
pub(super) struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    delimiter: char,
    line: usize,
}

impl<'a> Records<'a> {
    pub(super) fn new(text: &'a str, delimiter: char) -> Self {
        Self {
            chars: text.chars().peekable(),
            delimiter,
            line: 1,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        self.chars.peek()?;
        let line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut quoted = false;
        let mut problem = None;
        while let Some(c) = self.chars.next() {
            if in_quotes {
                match c {
                    '"' if self.chars.peek() == Some(&'"') => {
                        self.chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\r' if self.chars.peek() == Some(&'\n') => field.push(c),
                    '\n' | '\r' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '\r' if self.chars.peek() == Some(&'\n') => {}
                '\n' | '\r' => {
                    self.line += 1;
                    fields.push(field);
                    return Some(Record {
                        line,
                        fields,
                        problem,
                    });
                }
                c if c == self.delimiter => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '"' if field.trim().is_empty() && !quoted => {
                    field.clear();
                    in_quotes = true;
                    quoted = true;
                }
                '"' => {
                    problem.get_or_insert("a quote inside an unquoted field");
                    field.push(c);
                }
                c if quoted && !c.is_whitespace() => {
                    problem.get_or_insert("text after a closing quote");
                    field.push(c);
                }
                _ => field.push(c),
            }
        }
        if in_quotes {
            problem = Some("quoted field never closed");
        }
        fields.push(field);
        Some(Record {
            line,
            fields,
            problem,
        })
    }
}
