//! Shell-style argument splitting for case scripts, with the exact rules of
//! redis-cli's `sdssplitargs`: whitespace separates arguments; `"..."` allows
//! `\n \r \t \b \a \\ \"` and `\xHH` escapes; `'...'` allows only `\'`; a
//! closing quote must be followed by whitespace or the end of the line.

/// Split `line` into arguments (arbitrary bytes). `Err` on unbalanced quotes
/// or a closing quote not followed by a space.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if i >= b.len() {
                    return Err(format!("unbalanced double quote in: {line}"));
                }
                let hex_escape = if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
                    hex(b[i + 2]).zip(hex(b[i + 3]))
                } else {
                    None
                };
                if let Some((h, l)) = hex_escape {
                    cur.push(h * 16 + l);
                    i += 4;
                    continue;
                } else if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    cur.push(match b[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if b[i] == b'"' {
                    if i + 1 < b.len() && !is_space(b[i + 1]) {
                        return Err(format!(
                            "closing quote must be followed by a space in: {line}"
                        ));
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(b[i]);
                }
            } else if insq {
                if i >= b.len() {
                    return Err(format!("unbalanced single quote in: {line}"));
                }
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if b[i] == b'\'' {
                    if i + 1 < b.len() && !is_space(b[i + 1]) {
                        return Err(format!(
                            "closing quote must be followed by a space in: {line}"
                        ));
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(b[i]);
                }
            } else {
                if i >= b.len() {
                    break;
                }
                match b[i] {
                    c if is_space(c) || c == 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn s(line: &str) -> Vec<String> {
        split_args(line)
            .expect("ok")
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect()
    }

    #[test]
    fn basics() {
        assert_eq!(s("SET a b"), ["SET", "a", "b"]);
        assert_eq!(s("  SET   \"a b\"  'c d' "), ["SET", "a b", "c d"]);
        assert_eq!(s("SET \"\" ''"), ["SET", "", ""]);
        assert_eq!(
            split_args("SET k \"\\x00\\xff\\n\"").expect("ok")[2],
            vec![0u8, 0xff, b'\n']
        );
        assert_eq!(s("SET k 'it\\'s'"), ["SET", "k", "it's"]);
        assert_eq!(s("SET k a\"b c\""), ["SET", "k", "ab c"]);
        assert!(split_args("SET \"a").is_err());
        assert!(split_args("SET \"a\"b").is_err());
        assert!(split_args("SET 'a").is_err());
    }
}
