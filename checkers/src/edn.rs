//! A reader for the part of EDN (extensible data notation, Clojure's) that Jepsen and Knossos
//! write histories in: nil, booleans, integers, floats, strings, characters, keywords,
//! symbols, lists, vectors, maps and sets, with `;` comments, commas as whitespace and `#_`
//! to discard a form. Tagged literals (`#inst`, records) are an error: a history needs none.
//!
//! Every value carries the line it starts on, and nesting deeper than [`DEPTH_MAX`] is an
//! error rather than a stack overflow. Written by hand because the EDN crates on crates.io
//! either report no line numbers or are not maintained.

/// How deeply collections may nest.
pub const DEPTH_MAX: usize = 64;

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A character such as `\a` or `\newline`.
    Char(char),
    /// A keyword, without its colon: `:read` is `Keyword("read")`.
    Keyword(String),
    /// A symbol other than nil, true and false.
    Symbol(String),
    /// `(...)`.
    List(Vec<Node>),
    /// `[...]`.
    Vector(Vec<Node>),
    /// `{...}`, in the order written.
    Map(Vec<(Node, Node)>),
    /// `#{...}`.
    Set(Vec<Node>),
}

/// A value and the line (1-based) it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub line: usize,
    /// The value.
    pub value: Edn,
}

/// A syntax error at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Reads every top-level value of `text`.
pub fn parse_all(text: &str) -> Result<Vec<Node>, EdnError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        position: 0,
        line: 1,
    };
    let mut nodes = Vec::new();
    while let Some(node) = reader.next_top_level()? {
        nodes.push(node);
    }
    Ok(nodes)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
    line: usize,
}

/// Characters that end a token.
fn is_delimiter(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || matches!(
            byte,
            b',' | b';' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"'
        )
}

impl Reader<'_> {
    fn error<T>(&self, message: String) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    /// Skips whitespace, commas and comments, counting lines.
    fn skip_blank(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => self.line += 1,
                b';' => {
                    while self.peek().is_some_and(|byte| byte != b'\n') {
                        self.position += 1;
                    }
                    continue;
                }
                byte if byte.is_ascii_whitespace() || byte == b',' => {}
                _ => return,
            }
            self.position += 1;
        }
    }

    fn next_top_level(&mut self) -> Result<Option<Node>, EdnError> {
        self.skip_blank();
        if self.peek().is_none() {
            return Ok(None);
        }
        self.value(0).map(Some)
    }

    /// The value starting at the next non-blank character.
    fn value(&mut self, depth: usize) -> Result<Node, EdnError> {
        self.skip_blank();
        let line = self.line;
        let Some(byte) = self.peek() else {
            return self.error("the file ends in the middle of a value".to_owned());
        };
        if depth >= DEPTH_MAX {
            return self.error(format!("values nest deeper than {DEPTH_MAX} levels"));
        }
        let value = match byte {
            b'(' => Edn::List(self.sequence(b')', depth)?),
            b'[' => Edn::Vector(self.sequence(b']', depth)?),
            b'{' => self.map(depth)?,
            b'"' => Edn::String(self.string()?),
            b'\\' => Edn::Char(self.character()?),
            b'#' => return self.dispatch(depth),
            b')' | b']' | b'}' => {
                return self.error(format!("unexpected `{}`", char::from(byte)));
            }
            _ => self.atom()?,
        };
        Ok(Node { line, value })
    }

    /// The elements up to `close`, after the opening character.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<Vec<Node>, EdnError> {
        let open_line = self.line;
        self.position += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    return self.error(format!(
                        "the `{}` opened on line {open_line} is never closed",
                        char::from(match close {
                            b')' => b'(',
                            b']' => b'[',
                            _ => b'{',
                        })
                    ));
                }
                Some(byte) if byte == close => {
                    self.position += 1;
                    return Ok(items);
                }
                Some(_) => {
                    if self.discard(depth)? {
                        continue;
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
        }
    }

    fn map(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let line = self.line;
        let items = self.sequence(b'}', depth)?;
        if items.len() % 2 != 0 {
            return Err(EdnError {
                line,
                message: "a map needs a value for every key".to_owned(),
            });
        }
        let mut items = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            pairs.push((key, value));
        }
        Ok(Edn::Map(pairs))
    }

    /// Skips a `#_` form if one comes next; true if it did.
    fn discard(&mut self, depth: usize) -> Result<bool, EdnError> {
        if self.bytes[self.position..].starts_with(b"#_") {
            self.position += 2;
            self.value(depth + 1)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `#{...}` sets and `#_` discards; anything else after `#` is a tagged literal.
    fn dispatch(&mut self, depth: usize) -> Result<Node, EdnError> {
        let line = self.line;
        match self.bytes.get(self.position + 1) {
            Some(b'{') => {
                self.position += 1;
                let items = self.sequence(b'}', depth)?;
                Ok(Node {
                    line,
                    value: Edn::Set(items),
                })
            }
            Some(b'_') => {
                self.discard(depth)?;
                self.value(depth)
            }
            _ => {
                let end = self.token_end(self.position + 1);
                let tag = &self.text[self.position..end];
                self.error(format!(
                    "tagged literal `{tag}` is not supported (a history needs none)"
                ))
            }
        }
    }

    fn token_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.bytes.get(end).is_some_and(|byte| !is_delimiter(*byte)) {
            end += 1;
        }
        end
    }

    fn string(&mut self) -> Result<String, EdnError> {
        let open_line = self.line;
        self.position += 1;
        let mut text = String::new();
        loop {
            let rest = &self.text[self.position..];
            let Some(offset) = rest.find(['"', '\\']) else {
                self.line = open_line;
                return self.error("the string is never closed".to_owned());
            };
            let chunk = &rest[..offset];
            self.line += chunk.matches('\n').count();
            text.push_str(chunk);
            self.position += offset;
            if self.bytes[self.position] == b'"' {
                self.position += 1;
                return Ok(text);
            }
            text.push(self.escape()?);
        }
    }

    /// The character an escape in a string stands for, after the backslash.
    fn escape(&mut self) -> Result<char, EdnError> {
        let Some(byte) = self.bytes.get(self.position + 1).copied() else {
            return self.error("the string is never closed".to_owned());
        };
        self.position += 2;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hex = self
                    .text
                    .get(self.position..self.position + 4)
                    .unwrap_or("");
                let code = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                let Some(code) = code else {
                    return self.error(format!("bad unicode escape `\\u{hex}`"));
                };
                self.position += 4;
                code
            }
            other => {
                return self.error(format!("unknown escape `\\{}`", char::from(other)));
            }
        })
    }

    fn character(&mut self) -> Result<char, EdnError> {
        // At least one character follows the backslash, even a delimiter such as `\(`.
        let start = self.position + 1;
        let first_len = self.text[start..].chars().next().map_or(0, char::len_utf8);
        let end = self.token_end(start + first_len).max(start + first_len);
        let name = &self.text[start..end];
        self.position = end;
        let named = match name {
            "newline" => Some('\n'),
            "space" => Some(' '),
            "tab" => Some('\t'),
            "return" => Some('\r'),
            "backspace" => Some('\u{8}'),
            "formfeed" => Some('\u{c}'),
            _ => None,
        };
        let mut chars = name.chars();
        match (named, chars.next(), chars.next()) {
            (Some(named), _, _) => Ok(named),
            (None, Some(single), None) => Ok(single),
            _ => self.error(format!("unknown character `\\{name}`")),
        }
    }

    /// A number, keyword or symbol.
    fn atom(&mut self) -> Result<Edn, EdnError> {
        let end = self.token_end(self.position);
        let token = &self.text[self.position..end];
        self.position = end;
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() {
                return self.error("a keyword needs a name after `:`".to_owned());
            }
            return Ok(Edn::Keyword(name.to_owned()));
        }
        let numeric = token.as_bytes()[0].is_ascii_digit()
            || (token.len() > 1
                && matches!(token.as_bytes()[0], b'+' | b'-')
                && token.as_bytes()[1].is_ascii_digit());
        if numeric {
            return self.number(token);
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            symbol => Edn::Symbol(symbol.to_owned()),
        })
    }

    fn number(&self, token: &str) -> Result<Edn, EdnError> {
        let integer = token.strip_suffix('N').unwrap_or(token);
        if let Ok(value) = integer.parse::<i64>() {
            return Ok(Edn::Integer(value));
        }
        if integer
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'-' || byte == b'+')
        {
            return self.error(format!("the integer {token} does not fit in 64 bits"));
        }
        let float = token.strip_suffix('M').unwrap_or(token);
        match float.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Edn::Float(value)),
            _ => self.error(format!("`{token}` is not a number this reader knows")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Edn> {
        parse_all(text)
            .unwrap_or_else(|error| panic!("{error:?}"))
            .into_iter()
            .map(|node| node.value)
            .collect()
    }

    fn error(text: &str) -> String {
        let error = parse_all(text).expect_err("an error");
        format!("{}: {}", error.line, error.message)
    }

    // Goal: every kind of value Jepsen writes reads as what it is. Method: one line each.
    #[test]
    fn reads_values() {
        assert_eq!(
            values("nil true false -3 +4 5N 1.5 2.5M \"a\\\"b\\u0041\" \\x \\newline :f :a/b sym"),
            [
                Edn::Nil,
                Edn::Bool(true),
                Edn::Bool(false),
                Edn::Integer(-3),
                Edn::Integer(4),
                Edn::Integer(5),
                Edn::Float(1.5),
                Edn::Float(2.5),
                Edn::String("a\"bA".to_owned()),
                Edn::Char('x'),
                Edn::Char('\n'),
                Edn::Keyword("f".to_owned()),
                Edn::Keyword("a/b".to_owned()),
                Edn::Symbol("sym".to_owned()),
            ]
        );
        let nested = values("[1 (2) #{3} {:a [4]} #_ 5 6]");
        let Edn::Vector(items) = &nested[0] else {
            panic!("{nested:?}");
        };
        assert_eq!(items.len(), 5, "{items:?}");
        assert_eq!(items[4].value, Edn::Integer(6));
    }

    // Goal: each value knows the line it starts on, through comments, commas and strings
    // spanning lines. Method: a Knossos-like vector over several lines.
    #[test]
    fn lines() {
        let text = "; comment\n[{:a 1},\n \"two\nlines\" ; x\n {:b 2}]\n{:c 3}";
        let nodes = parse_all(text).expect("parses");
        assert_eq!(nodes[0].line, 2);
        let Edn::Vector(items) = &nodes[0].value else {
            panic!("{nodes:?}");
        };
        let lines: Vec<usize> = items.iter().map(|item| item.line).collect();
        assert_eq!(lines, [2, 3, 5]);
        assert_eq!(nodes[1].line, 6);
    }

    // Goal: malformed input is an error with its line, never a panic or a stack overflow.
    // Method: one case per kind of mistake.
    #[test]
    fn errors() {
        assert_eq!(
            error("[1\n2"),
            "2: the `[` opened on line 1 is never closed"
        );
        assert_eq!(error("{:a}"), "1: a map needs a value for every key");
        assert_eq!(error("\n)"), "2: unexpected `)`");
        assert_eq!(error("\"abc"), "1: the string is never closed");
        assert_eq!(
            error("\n#inst \"2020\""),
            "2: tagged literal `#inst` is not supported (a history needs none)"
        );
        assert_eq!(
            error("99999999999999999999"),
            "1: the integer 99999999999999999999 does not fit in 64 bits"
        );
        assert_eq!(error(":"), "1: a keyword needs a name after `:`");
        assert_eq!(error("\"\\q\""), "1: unknown escape `\\q`");
        assert_eq!(error("1/2"), "1: `1/2` is not a number this reader knows");
        let deep = "[".repeat(100_000);
        assert_eq!(error(&deep), "1: values nest deeper than 64 levels");
    }
}
