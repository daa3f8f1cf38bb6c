//! A syntax check of Common Expression Language expressions, as `cel.Env.Parse` does it
//! (parsing only: no type checking, so unknown attributes are fine).

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int,
    Str,
    Punct(&'static str),
    End,
}

const PUNCTS: [&str; 25] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", ".", ",",
    "(", ")", "[", "]", "{", "}", "=",
];

const RESERVED: [&str; 15] = [
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
];

/// Parses `src`; the error names the first problem and its column.
pub fn parse(src: &str) -> Result<(), String> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0 };
    if p.peek() == &Tok::End {
        return Err("ERROR: <input>:1:1: Syntax error: mismatched input '<EOF>'".into());
    }
    p.expr(0)?;
    match p.peek() {
        Tok::End => Ok(()),
        t => Err(format!(
            "ERROR: <input>: Syntax error: extraneous input {}",
            show(t)
        )),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Int => "number".into(),
        Tok::Str => "string".into(),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::End => "'<EOF>'".into(),
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end = src[i..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map_or(b.len(), |n| i + n);
            let word = &src[i..end];
            let quote = b.get(end).copied();
            if matches!(
                word,
                "r" | "R" | "b" | "B" | "rb" | "br" | "Rb" | "bR" | "rB" | "Br" | "RB" | "BR"
            ) && matches!(quote, Some(b'"' | b'\''))
            {
                i = lex_string(src, end, word.contains(['r', 'R']))?;
                out.push((Tok::Str, start));
            } else {
                out.push((Tok::Ident(word.to_string()), start));
                i = end;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i = lex_number(src, i)?;
            out.push((Tok::Int, start));
        } else if c == b'"' || c == b'\'' {
            i = lex_string(src, i, false)?;
            out.push((Tok::Str, start));
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            out.push((Tok::Punct(p), start));
            i += p.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or_default();
            return Err(format!(
                "ERROR: <input>:1:{}: Syntax error: token recognition error at: '{ch}'",
                i + 1
            ));
        }
    }
    out.push((Tok::End, b.len()));
    Ok(out)
}

fn lex_number(src: &str, mut i: usize) -> Result<usize, String> {
    let b = src.as_bytes();
    if src[i..].starts_with("0x") || src[i..].starts_with("0X") {
        i += 2;
        let s = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        if s == i {
            return Err(format!(
                "ERROR: <input>:1:{}: Syntax error: invalid hex literal",
                s
            ));
        }
    } else {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                i = j;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
    }
    if i < b.len() && (b[i] == b'u' || b[i] == b'U') {
        i += 1;
    }
    Ok(i)
}

fn lex_string(src: &str, i: usize, raw: bool) -> Result<usize, String> {
    let q = &src[i..i + 1];
    let triple: String = q.repeat(3);
    let (delim, mut j) = if src[i..].starts_with(&triple) {
        (triple.as_str(), i + 3)
    } else {
        (q, i + 1)
    };
    let b = src.as_bytes();
    while j < b.len() {
        if src[j..].starts_with(delim) {
            return Ok(j + delim.len());
        }
        if b[j] == b'\\' && !raw {
            j += 2;
            continue;
        }
        if b[j] == b'\n' && delim.len() == 1 {
            break;
        }
        j += src[j..].chars().next().map_or(1, char::len_utf8);
    }
    Err(format!(
        "ERROR: <input>:1:{}: Syntax error: token recognition error at: '{}'",
        i + 1,
        &src[i..]
    ))
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if t != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Tok::Punct(q) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.error(&format!("missing '{p}'")))
        }
    }

    fn error(&self, what: &str) -> String {
        let (t, col) = &self.toks[self.pos];
        format!(
            "ERROR: <input>:1:{}: Syntax error: {what} at {}",
            col + 1,
            show(t)
        )
    }

    /// Conditional, `||`, `&&`, relations, additive, multiplicative: precedence climbing.
    fn expr(&mut self, depth: usize) -> Result<(), String> {
        if depth > 250 {
            return Err(self.error("expression nested too deeply"));
        }
        self.binary(0, depth)?;
        if self.eat("?") {
            self.binary(0, depth)?;
            self.expect(":")?;
            self.expr(depth + 1)?;
        }
        Ok(())
    }

    fn binary(&mut self, level: usize, depth: usize) -> Result<(), String> {
        const LEVELS: [&[&str]; 5] = [
            &["||"],
            &["&&"],
            &["==", "!=", "<", "<=", ">", ">=", "in"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary(depth);
        }
        self.binary(level + 1, depth)?;
        loop {
            let is_op = match self.peek() {
                Tok::Punct(p) => LEVELS[level].contains(p),
                Tok::Ident(w) => w == "in" && level == 2,
                _ => false,
            };
            if !is_op {
                return Ok(());
            }
            self.next();
            self.binary(level + 1, depth)?;
        }
    }

    fn unary(&mut self, depth: usize) -> Result<(), String> {
        while self.eat("!") || self.eat("-") {}
        self.member(depth)
    }

    fn member(&mut self, depth: usize) -> Result<(), String> {
        self.primary(depth)?;
        loop {
            if self.eat(".") {
                match self.next() {
                    Tok::Ident(_) => {}
                    _ => return Err(self.error("expected a field name")),
                }
                if self.eat("(") {
                    self.list(")", depth)?;
                }
            } else if self.eat("[") {
                self.expr(depth + 1)?;
                self.expect("]")?;
            } else if matches!(self.peek(), Tok::Punct("{")) && self.struct_allowed() {
                self.next();
                self.field_inits(depth)?;
            } else {
                return Ok(());
            }
        }
    }

    /// `Name{field: value}` message construction follows a (qualified) identifier.
    fn struct_allowed(&self) -> bool {
        self.pos > 0 && matches!(self.toks[self.pos - 1].0, Tok::Ident(_))
    }

    fn primary(&mut self, depth: usize) -> Result<(), String> {
        let _ = self.eat(".");
        match self.next() {
            Tok::Ident(w) => {
                if RESERVED.contains(&w.as_str()) || w == "in" {
                    self.pos -= 1;
                    return Err(self.error(&format!("reserved identifier: {w}")));
                }
                if self.eat("(") {
                    self.list(")", depth)?;
                }
                Ok(())
            }
            Tok::Int | Tok::Str => Ok(()),
            Tok::Punct("(") => {
                self.expr(depth + 1)?;
                self.expect(")")
            }
            Tok::Punct("[") => self.list("]", depth),
            Tok::Punct("{") => self.map_inits(depth),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.error("mismatched input"))
            }
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn list(&mut self, close: &str, depth: usize) -> Result<(), String> {
        if self.eat(close) {
            return Ok(());
        }
        loop {
            self.expr(depth + 1)?;
            if self.eat(close) {
                return Ok(());
            }
            self.expect(",")?;
            if self.eat(close) {
                return Ok(());
            }
        }
    }

    fn map_inits(&mut self, depth: usize) -> Result<(), String> {
        if self.eat("}") {
            return Ok(());
        }
        loop {
            self.expr(depth + 1)?;
            self.expect(":")?;
            self.expr(depth + 1)?;
            if self.eat("}") {
                return Ok(());
            }
            self.expect(",")?;
            if self.eat("}") {
                return Ok(());
            }
        }
    }

    fn field_inits(&mut self, depth: usize) -> Result<(), String> {
        if self.eat("}") {
            return Ok(());
        }
        loop {
            match self.next() {
                Tok::Ident(_) => {}
                _ => return Err(self.error("expected a field name")),
            }
            self.expect(":")?;
            self.expr(depth + 1)?;
            if self.eat("}") {
                return Ok(());
            }
            self.expect(",")?;
            if self.eat("}") {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::istio::telemetry::cel;

    #[test]
    fn cel_syntax() {
        let cases = [
            ("response.code >= 400", true),
            (
                "connection.mtls && request.url_path.contains('v1beta3')",
                true,
            ),
            ("response.code", true),
            (")++++", false),
            ("", false),
            ("a ? b : c", true),
            ("a ? b", false),
            (
                "request.headers['x-user'] == \"bob\" || !(x in [1, 2, 3,])",
                true,
            ),
            ("{'a': 1, 'b': 2}.size() > 1", true),
            ("google.protobuf.Duration{seconds: 10} < d", true),
            ("r'raw\\d' + b\"bytes\" + '''multi\nline'''", true),
            ("1 + ", false),
            ("'unterminated", false),
            ("a.b.", false),
            ("x == 0x1F || y == 3u || z == 1.5e3 || w == .5", true),
            ("a @ b", false),
            ("if > 3", false),
            ("f(a, b)[0].g()", true),
        ];
        for (src, ok) in cases {
            assert_eq!(
                cel::parse(src).is_ok(),
                ok,
                "{src:?}: {:?}",
                cel::parse(src)
            );
        }
    }
}
