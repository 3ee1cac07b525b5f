//! Expected failures as typed values, mapped to Redis's exact error texts in
//! one place (`CmdError::text`). Broken invariants are `assert!`s instead.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    NoSuchKey,
    Overflow,
    /// "ERR wrong number of arguments for '%s' command"
    Arity(String),
    /// Any other text, including its prefix ("ERR ...", "NOAUTH ...").
    Msg(Cow<'static, str>),
}

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub fn msg(s: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError::Msg(s.into())
    }

    pub fn text(&self) -> Cow<'static, str> {
        match self {
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::Arity(name) => {
                format!("ERR wrong number of arguments for '{name}' command").into()
            }
            CmdError::Msg(s) => s.clone(),
        }
    }
}

/// The error "code" Redis counts in errorstats: the first word of the text.
pub fn error_code(text: &str) -> &str {
    text.split(' ').next().unwrap_or("ERR")
}
