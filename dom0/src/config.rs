//! Parser for `xl.cfg`-style domain configuration files, the syntax that Xen's
//! `xl create` reads through libxlu.
//!
//! A file is a sequence of `key = value` settings, one per line or separated
//! by `;`. A value is a string in single or double quotes, an unquoted number,
//! or a list `[ value, value, ... ]` that may span lines and may end with a
//! comma. `#` starts a comment that runs to the end of the line.
//!
//! [`parse_settings`] reads the syntax for any key. [`parse`] then checks the
//! keys that a Hospes DomU uses and returns a [`DomainConfig`].
//!
//! This parser differs from libxlu (Xen 4.19) in four ways. A key set twice is
//! an error, where Xen keeps the last value. A number with a leading zero is
//! rejected, where Xen reads it as octal. `+=` and octal string escapes are
//! not supported. The file must be UTF-8. As in Xen, a number may also be
//! written in quotes (`memory = "512"`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use hypercalls::shared::MAX_GUEST_CMDLINE;

use crate::domname::{DOM0_NAME, looks_like_id};

/// Smallest `memory` a guest can have, in MiB.
pub const MIN_MEMORY_MIB: u64 = 4;
/// `memory` of a guest whose file does not set it, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 16;
/// Largest `memory`, in MiB: the most whose size in bytes fits in a `u64`.
pub const MAX_MEMORY_MIB: u64 = u64::MAX >> 20;
/// Maximum length of a domain name, in bytes.
pub const MAX_NAME_LENGTH: usize = 32;
/// Maximum length of `extra`, in bytes: `start_info.cmd_line` keeps one byte for the
/// terminating NUL.
pub const MAX_EXTRA_LENGTH: usize = MAX_GUEST_CMDLINE - 1;
/// The keys that [`parse`] accepts, in the order the error message lists them.
pub const KNOWN_KEYS: [&str; 8] = [
    "name",
    "kernel",
    "memory",
    "vcpus",
    "extra",
    "on_poweroff",
    "on_reboot",
    "on_crash",
];

/// Maximum length of the part of a value that an error message quotes, in
/// characters.
const MAX_SHOWN_VALUE: usize = 40;

/// Action of the toolstack when a guest powers off, reboots or crashes
/// (`on_poweroff`, `on_reboot`, `on_crash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownAction {
    /// Destroy the domain and free its memory.
    Destroy,
    /// Destroy the domain and build it again from the same configuration.
    Restart,
    /// Keep the stopped domain, so that its memory and console can be
    /// inspected, until `xl destroy`.
    Preserve,
}

impl ShutdownAction {
    /// Returns the name that a config file uses for this action.
    pub const fn name(self) -> &'static str {
        match self {
            ShutdownAction::Destroy => "destroy",
            ShutdownAction::Restart => "restart",
            ShutdownAction::Preserve => "preserve",
        }
    }
}

/// A DomU's settings, as [`parse`] returns them with the defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// 1 to 32 characters from `A-Z a-z 0-9 _ . -`.
    pub name: String,
    /// Path of the kernel image in the Dom0 ramdisk, such as `/boot/domu`.
    pub kernel: String,
    pub memory_mib: u64,
    /// Always 1, the only count Hospes supports.
    pub vcpus: u32,
    /// Text that the guest's command line gets, `""` when not set.
    pub extra: String,
    pub on_poweroff: ShutdownAction,
    pub on_reboot: ShutdownAction,
    pub on_crash: ShutdownAction,
}

/// Value of one setting, as the file spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text in single or double quotes, with its escapes decoded.
    String(String),
    /// An unquoted word, such as the number `512`. Only numbers are valid
    /// unquoted values, and the key's parser rejects any other word.
    Bare(String),
    /// `[ value, ... ]`.
    List(Vec<ListItem>),
}

/// One element of a [`Value::List`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListItem {
    /// Line number of the element, starting at 1.
    pub line: usize,
    /// A [`Value::String`] or a [`Value::Bare`], never a list.
    pub value: Value,
}

/// One `key = value` setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    /// Line number of the key, starting at 1.
    pub line: usize,
    pub value: Value,
}

/// Error in a config file. It prints as `FILE:LINE: MESSAGE`, or as
/// `FILE: MESSAGE` for a problem of the whole file, like a missing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file's path, as the user gave it.
    pub file: String,
    /// Line number, starting at 1.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{}:{line}: {}", self.file, self.message),
            None => write!(formatter, "{}: {}", self.file, self.message),
        }
    }
}

/// Parses a DomU config file. `file` is the path that the user gave, used
/// only in error messages. Returns one error: the first syntax error, else
/// the first invalid key or value in line order, else a missing key.
pub fn parse(file: &str, text: &[u8]) -> Result<DomainConfig, ConfigError> {
    let settings = parse_settings(file, text)?;
    let checker = Checker { file };

    let mut name = None;
    let mut kernel = None;
    let mut memory_mib = DEFAULT_MEMORY_MIB;
    let mut vcpus = 1;
    let mut extra = String::new();
    let mut on_poweroff = ShutdownAction::Destroy;
    let mut on_reboot = ShutdownAction::Restart;
    let mut on_crash = ShutdownAction::Destroy;

    for (index, setting) in settings.iter().enumerate() {
        let key = setting.key.as_str();
        if !KNOWN_KEYS.contains(&key) {
            return Err(checker.error(
                setting.line,
                format!(
                    "unknown key '{}'; known keys: {}",
                    shown(key),
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
        if let Some(first) = settings[..index].iter().find(|earlier| earlier.key == key) {
            return Err(checker.error(
                setting.line,
                format!("duplicate key '{key}' (first set on line {})", first.line),
            ));
        }

        match key {
            "name" => name = Some(checker.name(setting)?),
            "kernel" => kernel = Some(checker.kernel(setting)?),
            "memory" => memory_mib = checker.memory(setting)?,
            "vcpus" => vcpus = checker.vcpus(setting)?,
            "extra" => extra = checker.extra(setting)?,
            "on_poweroff" => on_poweroff = checker.action(setting)?,
            "on_reboot" => on_reboot = checker.action(setting)?,
            "on_crash" => on_crash = checker.action(setting)?,
            _ => unreachable!("KNOWN_KEYS has a key without a parser: {key}"),
        }
    }

    let Some(name) = name else {
        return Err(checker.missing("name"));
    };
    let Some(kernel) = kernel else {
        return Err(checker.missing("kernel"));
    };
    Ok(DomainConfig {
        name,
        kernel,
        memory_mib,
        vcpus,
        extra,
        on_poweroff,
        on_reboot,
        on_crash,
    })
}

/// Parses the syntax of a config file into its settings, in file order,
/// without checking keys or values. `file` is used only in error messages.
pub fn parse_settings(file: &str, text: &[u8]) -> Result<Vec<Setting>, ConfigError> {
    let text = core::str::from_utf8(text).map_err(|error| {
        let valid = &text[..error.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&byte| byte == b'\n').count();
        let byte = text[error.valid_up_to()];
        ConfigError {
            file: file.to_string(),
            line: Some(line),
            message: format!("invalid UTF-8 byte 0x{byte:02x}; save the file as UTF-8 text"),
        }
    })?;

    let mut parser = Parser {
        file,
        lexer: Lexer {
            text,
            position: 0,
            line: 1,
        },
    };
    parser.settings()
}

/// Checks the values of the keys that [`parse`] accepts.
struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn error(&self, line: usize, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(line),
            message,
        }
    }

    fn missing(&self, key: &str) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: None,
            message: format!("missing required key '{key}'"),
        }
    }

    /// Error `invalid value 'VALUE' for KEY: REASON`.
    fn invalid(&self, setting: &Setting, value: &str, reason: &str) -> ConfigError {
        self.error(
            setting.line,
            format!(
                "invalid value '{}' for {}: {reason}",
                shown(value),
                setting.key
            ),
        )
    }

    /// Error for a value of the wrong kind: a list, or an unquoted word where
    /// a string or a number belongs.
    fn wrong_kind(&self, setting: &Setting, expected: &str) -> ConfigError {
        match &setting.value {
            Value::String(text) | Value::Bare(text) => self.invalid(setting, text, expected),
            Value::List(_) => self.error(
                setting.line,
                format!("invalid value for {}: {expected}, not a list", setting.key),
            ),
        }
    }

    fn string<'s>(&self, setting: &'s Setting, example: &str) -> Result<&'s str, ConfigError> {
        match &setting.value {
            Value::String(text) => Ok(text),
            _ => Err(self.wrong_kind(
                setting,
                &format!(
                    "expected a string in quotes, like {} = \"{example}\"",
                    setting.key
                ),
            )),
        }
    }

    /// Reads a number, unquoted or quoted as Xen allows. `expected` describes
    /// what the number counts, for the error message.
    fn integer(&self, setting: &Setting, expected: &str) -> Result<u64, ConfigError> {
        let text = match &setting.value {
            Value::String(text) | Value::Bare(text) => text,
            Value::List(_) => return Err(self.wrong_kind(setting, expected)),
        };
        match parse_integer(text) {
            Ok(number) => Ok(number),
            Err(IntegerError::NotANumber) => Err(self.invalid(setting, text, expected)),
            Err(IntegerError::LeadingZero) => Err(self.invalid(
                setting,
                text,
                "leading zeros are not allowed, because Xen reads such numbers as octal; \
                 write the number in decimal",
            )),
            Err(IntegerError::TooLarge) => {
                Err(self.invalid(setting, text, "the number does not fit in 64 bits"))
            }
        }
    }

    fn name(&self, setting: &Setting) -> Result<String, ConfigError> {
        let name = self.string(setting, "guest1")?;
        let reason = if name.is_empty() {
            Some(String::from("the name is empty; use 1 to 32 characters"))
        } else if name.len() > MAX_NAME_LENGTH {
            Some(format!(
                "the name is {} bytes long; use at most {MAX_NAME_LENGTH}",
                name.len()
            ))
        } else if let Some(character) = name.chars().find(|&c| !is_name_character(c)) {
            Some(format!(
                "character '{}' is not allowed; use letters, digits, '_', '.' and '-'",
                character.escape_debug()
            ))
        } else if name == DOM0_NAME {
            Some(format!(
                "{DOM0_NAME} is the name of Dom0; choose another name"
            ))
        } else if looks_like_id(name) {
            Some(String::from(
                "a name of only digits would be read as a domain id; add a letter",
            ))
        } else {
            None
        };

        match reason {
            Some(reason) => Err(self.invalid(setting, name, &reason)),
            None => Ok(name.to_string()),
        }
    }

    fn kernel(&self, setting: &Setting) -> Result<String, ConfigError> {
        let kernel = self.string(setting, "/boot/domu")?;
        if kernel.is_empty() {
            return Err(self.invalid(
                setting,
                kernel,
                "expected the path of a kernel image in the Dom0 ramdisk, like \"/boot/domu\"",
            ));
        }
        if kernel.chars().any(char::is_control) {
            return Err(self.invalid(
                setting,
                kernel,
                "the path contains control characters; remove them",
            ));
        }
        Ok(kernel.to_string())
    }

    fn memory(&self, setting: &Setting) -> Result<u64, ConfigError> {
        let memory = self.integer(setting, "expected a number of MiB")?;
        if memory < MIN_MEMORY_MIB {
            return Err(self.invalid(
                setting,
                atom_text(setting),
                &format!("a guest needs at least {MIN_MEMORY_MIB} MiB"),
            ));
        }
        if memory > MAX_MEMORY_MIB {
            return Err(self.invalid(
                setting,
                atom_text(setting),
                &format!("the maximum is {MAX_MEMORY_MIB} MiB"),
            ));
        }
        Ok(memory)
    }

    fn vcpus(&self, setting: &Setting) -> Result<u32, ConfigError> {
        let vcpus = self.integer(setting, "expected a number of vCPUs")?;
        if vcpus != 1 {
            return Err(self.invalid(
                setting,
                atom_text(setting),
                "Hospes supports only 1 vCPU per guest; set vcpus = 1",
            ));
        }
        Ok(1)
    }

    fn extra(&self, setting: &Setting) -> Result<String, ConfigError> {
        let extra = self.string(setting, "console=hvc0")?;
        if extra.len() > MAX_EXTRA_LENGTH {
            return Err(self.invalid(
                setting,
                extra,
                &format!(
                    "the text is {} bytes long, and the guest command line has room for at most {MAX_EXTRA_LENGTH}",
                    extra.len()
                ),
            ));
        }
        if extra.contains('\0') {
            return Err(self.invalid(
                setting,
                extra,
                "the text contains a NUL character, which would end the command line early",
            ));
        }
        Ok(extra.to_string())
    }

    fn action(&self, setting: &Setting) -> Result<ShutdownAction, ConfigError> {
        let text = self.string(setting, "destroy")?;
        let supported = [
            ShutdownAction::Destroy,
            ShutdownAction::Restart,
            ShutdownAction::Preserve,
        ];
        if let Some(&action) = supported
            .iter()
            .find(|action| action.name().eq_ignore_ascii_case(text))
        {
            return Ok(action);
        }

        // Xen's libxl accepts these too, but Hospes has no core dumps and
        // keeps no renamed copies of a domain.
        let unsupported = ["rename-restart", "coredump-destroy", "coredump-restart"];
        let reason = if unsupported
            .iter()
            .any(|name| name.eq_ignore_ascii_case(text))
        {
            format!(
                "{} is not supported by Hospes; use destroy, restart or preserve",
                shown(text)
            )
        } else {
            String::from("expected destroy, restart or preserve")
        };
        Err(self.invalid(setting, text, &reason))
    }
}

/// Returns the text of a string value, with its escapes decoded, or of a bare
/// value, or `""` for a list.
fn atom_text(setting: &Setting) -> &str {
    match &setting.value {
        Value::String(text) | Value::Bare(text) => text,
        Value::List(_) => "",
    }
}

fn is_name_character(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-')
}

#[derive(Debug, PartialEq, Eq)]
enum IntegerError {
    NotANumber,
    LeadingZero,
    TooLarge,
}

/// Parses a decimal number, or a hexadecimal one with a `0x` prefix.
fn parse_integer(text: &str) -> Result<u64, IntegerError> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(IntegerError::NotANumber);
    }
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        return Err(IntegerError::LeadingZero);
    }
    // Every character is a digit of `radix`, so the only failure left is overflow.
    u64::from_str_radix(digits, radix).map_err(|_| IntegerError::TooLarge)
}

/// Renders `text` for an error message: control and other unprintable
/// characters escaped as Rust escapes them, and cut to [`MAX_SHOWN_VALUE`]
/// characters with `...` after it.
fn shown(text: &str) -> String {
    let mut result = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == MAX_SHOWN_VALUE {
            result.push_str("...");
            break;
        }
        match character {
            '\'' | '"' | '\\' => result.push(character),
            _ => result.extend(character.escape_debug()),
        }
    }
    result
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// Unquoted text: a key, or a value like `512`.
    Word(String),
    Quoted(String),
    Equals,
    OpenBracket,
    CloseBracket,
    Comma,
    Semicolon,
    Newline,
    End,
}

impl Token {
    /// Describes the token for the "found ..." part of an error message.
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("'{}'", shown(word)),
            Token::Quoted(_) => String::from("a string"),
            Token::Equals => String::from("'='"),
            Token::OpenBracket => String::from("'['"),
            Token::CloseBracket => String::from("']'"),
            Token::Comma => String::from("','"),
            Token::Semicolon => String::from("';'"),
            Token::Newline => String::from("the end of the line"),
            Token::End => String::from("the end of the file"),
        }
    }
}

/// Splits config text into tokens, skipping spaces and comments.
struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    position: usize,
    /// Line of the next character, starting at 1.
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    fn advance(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.position += character.len_utf8();
        if character == '\n' {
            self.line += 1;
        }
        Some(character)
    }

    /// Returns the next token and the line it starts on, or a message for
    /// the line where the text stops making sense.
    fn next_token(&mut self) -> Result<(Token, usize), (usize, String)> {
        loop {
            let line = self.line;
            let Some(character) = self.peek() else {
                return Ok((Token::End, line));
            };
            let single = match character {
                '\n' => Some(Token::Newline),
                '=' => Some(Token::Equals),
                '[' => Some(Token::OpenBracket),
                ']' => Some(Token::CloseBracket),
                ',' => Some(Token::Comma),
                ';' => Some(Token::Semicolon),
                _ => None,
            };
            if let Some(token) = single {
                self.advance();
                return Ok((token, line));
            }

            match character {
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.advance();
                    }
                }
                c if c.is_whitespace() => {
                    self.advance();
                }
                '"' | '\'' => {
                    return self
                        .quoted(character)
                        .map(|text| (Token::Quoted(text), line));
                }
                _ => return Ok((Token::Word(self.word()), line)),
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.position;
        while let Some(character) = self.peek() {
            if character.is_whitespace() || "=[],;#\"'".contains(character) {
                break;
            }
            self.advance();
        }
        self.text[start..self.position].to_string()
    }

    /// Reads a string that starts at the `quote` under the cursor and ends at
    /// the same quote on the same line, decoding backslash escapes.
    fn quoted(&mut self, quote: char) -> Result<String, (usize, String)> {
        let line = self.line;
        self.advance();
        let mut text = String::new();
        let unterminated = |text: &str| {
            (
                line,
                format!(
                    "missing closing {quote} for the string that starts {quote}{}",
                    shown(text)
                ),
            )
        };

        loop {
            let character = match self.peek() {
                None | Some('\n') => return Err(unterminated(&text)),
                Some(character) => character,
            };
            self.advance();
            if character == quote {
                return Ok(text);
            }
            if character != '\\' {
                text.push(character);
                continue;
            }

            let escaped = match self.peek() {
                None | Some('\n') => return Err(unterminated(&text)),
                Some(escaped) => escaped,
            };
            self.advance();
            let decoded = match escaped {
                '"' | '\'' | '\\' => escaped,
                'a' => '\x07',
                'b' => '\x08',
                'f' => '\x0c',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\x0b',
                'x' => self.hex_escape(line)?,
                other => {
                    return Err((
                        line,
                        format!(
                            "invalid escape '\\{}' in a string; write '\\\\' for a backslash",
                            other.escape_debug()
                        ),
                    ));
                }
            };
            text.push(decoded);
        }
    }

    /// Reads the two hex digits of a `\xHH` escape.
    fn hex_escape(&mut self, line: usize) -> Result<char, (usize, String)> {
        let mut value = 0u32;
        for _ in 0..2 {
            let digit = self.peek().and_then(|c| c.to_digit(16)).ok_or_else(|| {
                (
                    line,
                    String::from(
                        "invalid escape in a string: '\\x' needs two hex digits, like \\x1b",
                    ),
                )
            })?;
            self.advance();
            value = value * 16 + digit;
        }
        // Two hex digits make at most 0xff, and all of 0..=0xff are chars.
        Ok(char::from(value as u8))
    }
}

/// Builds [`Setting`]s from the lexer's tokens.
struct Parser<'a> {
    file: &'a str,
    lexer: Lexer<'a>,
}

impl Parser<'_> {
    fn error(&self, line: usize, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(line),
            message,
        }
    }

    fn next(&mut self) -> Result<(Token, usize), ConfigError> {
        self.lexer
            .next_token()
            .map_err(|(line, message)| self.error(line, message))
    }

    /// Returns the next token that is not a line end.
    fn next_skipping_newlines(&mut self) -> Result<(Token, usize), ConfigError> {
        loop {
            let (token, line) = self.next()?;
            if token != Token::Newline {
                return Ok((token, line));
            }
        }
    }

    fn settings(&mut self) -> Result<Vec<Setting>, ConfigError> {
        let mut settings = Vec::new();
        loop {
            let (token, line) = self.next()?;
            match token {
                Token::End => return Ok(settings),
                Token::Newline | Token::Semicolon => {}
                Token::Word(key) => settings.push(self.setting(key, line)?),
                Token::Equals => {
                    return Err(self.error(
                        line,
                        String::from("missing key before '='; settings have the form key = value"),
                    ));
                }
                other => {
                    return Err(self.error(
                        line,
                        format!(
                            "expected a key, found {}; settings have the form key = value",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }

    /// Parses `= value` and the end of the setting, after `key`.
    fn setting(&mut self, key: String, line: usize) -> Result<Setting, ConfigError> {
        let (token, token_line) = self.next()?;
        match token {
            Token::Equals => {}
            Token::Newline | Token::End | Token::Semicolon => {
                return Err(self.error(
                    line,
                    format!(
                        "expected '=' after '{}'; settings have the form key = value",
                        shown(&key)
                    ),
                ));
            }
            other => {
                return Err(self.error(
                    token_line,
                    format!(
                        "expected '=' after '{}', found {}; settings have the form key = value",
                        shown(&key),
                        other.describe()
                    ),
                ));
            }
        }

        let value = self.value(&key, line)?;

        let (token, token_line) = self.next()?;
        match token {
            Token::Newline | Token::Semicolon | Token::End => Ok(Setting { key, line, value }),
            other => Err(self.error(
                token_line,
                format!(
                    "unexpected {} after the value of '{}'; quote values that contain spaces, \
                     and put each setting on its own line",
                    other.describe(),
                    shown(&key)
                ),
            )),
        }
    }

    fn value(&mut self, key: &str, line: usize) -> Result<Value, ConfigError> {
        let (token, token_line) = self.next()?;
        match token {
            Token::Quoted(text) => Ok(Value::String(text)),
            Token::Word(word) => Ok(Value::Bare(word)),
            Token::OpenBracket => self.list(key, token_line),
            Token::Newline | Token::End | Token::Semicolon => {
                Err(self.error(line, format!("missing value after '{} ='", shown(key))))
            }
            other => Err(self.error(
                token_line,
                format!(
                    "expected a value after '{} =', found {}",
                    shown(key),
                    other.describe()
                ),
            )),
        }
    }

    /// Parses the elements of a list whose `[` is on `open_line`, up to and
    /// including its `]`.
    fn list(&mut self, key: &str, open_line: usize) -> Result<Value, ConfigError> {
        let key = shown(key);
        let unclosed =
            || format!("missing ']' for the list of '{key}' that starts on line {open_line}");
        let mut items = Vec::new();

        loop {
            let (token, line) = self.next_skipping_newlines()?;
            let value = match token {
                Token::CloseBracket => return Ok(Value::List(items)),
                Token::Quoted(text) => Value::String(text),
                Token::Word(word) => Value::Bare(word),
                Token::End => return Err(self.error(open_line, unclosed())),
                Token::OpenBracket => {
                    return Err(self.error(
                        line,
                        format!("invalid '[' inside the list of '{key}': lists cannot be nested"),
                    ));
                }
                other => {
                    return Err(self.error(
                        line,
                        format!(
                            "expected a value or ']' in the list of '{key}', found {}",
                            other.describe()
                        ),
                    ));
                }
            };
            items.push(ListItem { line, value });

            let (token, line) = self.next_skipping_newlines()?;
            match token {
                Token::Comma => {}
                Token::CloseBracket => return Ok(Value::List(items)),
                Token::End => return Err(self.error(open_line, unclosed())),
                other => {
                    return Err(self.error(
                        line,
                        format!(
                            "expected ',' or ']' after a value in the list of '{key}', found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "guest1.cfg";

    fn config(text: &str) -> DomainConfig {
        parse(FILE, text.as_bytes()).unwrap_or_else(|error| panic!("parse failed: {error}"))
    }

    fn error(text: &str) -> String {
        match parse(FILE, text.as_bytes()) {
            Ok(config) => panic!("parse accepted {text:?} as {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn settings(text: &str) -> Vec<Setting> {
        parse_settings(FILE, text.as_bytes())
            .unwrap_or_else(|error| panic!("parse_settings failed: {error}"))
    }

    fn bare(text: &str) -> Value {
        Value::Bare(text.to_string())
    }

    fn string(text: &str) -> Value {
        Value::String(text.to_string())
    }

    const MINIMAL: &str = "name = \"guest1\"\nkernel = \"/boot/domu\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let parsed = config(MINIMAL);
        assert_eq!(parsed.name, "guest1");
        assert_eq!(parsed.kernel, "/boot/domu");
        assert_eq!(parsed.memory_mib, DEFAULT_MEMORY_MIB);
        assert_eq!(parsed.vcpus, 1);
        assert_eq!(parsed.extra, "");
        assert_eq!(parsed.on_poweroff, ShutdownAction::Destroy);
        assert_eq!(parsed.on_reboot, ShutdownAction::Restart);
        assert_eq!(parsed.on_crash, ShutdownAction::Destroy);
    }

    #[test]
    fn full_config_sets_every_key() {
        let text = "\
# A test guest.
name = 'web-1.example_a'
kernel = \"/boot/domu\"   # the image in the ramdisk

memory = 64
vcpus = 1
extra = \"console=hvc0 loglevel=8\"
on_poweroff = \"preserve\"
on_reboot = 'destroy'
on_crash = \"restart\"
";
        let parsed = config(text);
        assert_eq!(parsed.name, "web-1.example_a");
        assert_eq!(parsed.kernel, "/boot/domu");
        assert_eq!(parsed.memory_mib, 64);
        assert_eq!(parsed.vcpus, 1);
        assert_eq!(parsed.extra, "console=hvc0 loglevel=8");
        assert_eq!(parsed.on_poweroff, ShutdownAction::Preserve);
        assert_eq!(parsed.on_reboot, ShutdownAction::Destroy);
        assert_eq!(parsed.on_crash, ShutdownAction::Restart);
    }

    #[test]
    fn crlf_semicolons_and_no_final_newline() {
        let parsed = config("name = \"a\"; kernel = \"/k\";\r\nmemory = 8\r\nvcpus=1");
        assert_eq!(parsed.name, "a");
        assert_eq!(parsed.kernel, "/k");
        assert_eq!(parsed.memory_mib, 8);
    }

    #[test]
    fn memory_accepts_hex_and_quoted_numbers() {
        assert_eq!(config(&format!("{MINIMAL}memory = 0x20")).memory_mib, 32);
        assert_eq!(
            config(&format!("{MINIMAL}memory = \"512\"")).memory_mib,
            512
        );
        assert_eq!(config(&format!("{MINIMAL}memory = 4")).memory_mib, 4);
    }

    #[test]
    fn actions_ignore_case() {
        let parsed = config(&format!("{MINIMAL}on_crash = \"Preserve\""));
        assert_eq!(parsed.on_crash, ShutdownAction::Preserve);
    }

    #[test]
    fn action_names() {
        assert_eq!(ShutdownAction::Destroy.name(), "destroy");
        assert_eq!(ShutdownAction::Restart.name(), "restart");
        assert_eq!(ShutdownAction::Preserve.name(), "preserve");
    }

    #[test]
    fn string_escapes_decode() {
        let parsed = config(&format!(
            "{MINIMAL}extra = \"a\\\"b\\'c\\\\d\\ne\\tf\\x41\\x7e\\r\\a\\b\\f\\v\""
        ));
        assert_eq!(parsed.extra, "a\"b'c\\d\ne\tfA~\r\x07\x08\x0c\x0b");
    }

    #[test]
    fn quotes_nest_inside_other_quotes() {
        let parsed = config(&format!("{MINIMAL}extra = 'say \"hi\" # not a comment'"));
        assert_eq!(parsed.extra, "say \"hi\" # not a comment");
    }

    #[test]
    fn extra_at_maximum_length() {
        let extra = "x".repeat(MAX_EXTRA_LENGTH);
        let parsed = config(&format!("{MINIMAL}extra = \"{extra}\""));
        assert_eq!(parsed.extra.len(), MAX_EXTRA_LENGTH);
    }

    #[test]
    fn name_at_maximum_length() {
        let name = "n".repeat(MAX_NAME_LENGTH);
        let parsed = config(&format!("name = \"{name}\"\nkernel = \"/k\""));
        assert_eq!(parsed.name, name);
    }

    #[test]
    fn settings_keep_file_order_and_lines() {
        let parsed = settings("# comment\n\nb = 1\na = \"x\" ; c = y\n");
        assert_eq!(parsed.len(), 3);
        assert_eq!(
            parsed[0],
            Setting {
                key: "b".into(),
                line: 3,
                value: bare("1")
            }
        );
        assert_eq!(
            parsed[1],
            Setting {
                key: "a".into(),
                line: 4,
                value: string("x")
            }
        );
        assert_eq!(
            parsed[2],
            Setting {
                key: "c".into(),
                line: 4,
                value: bare("y")
            }
        );
    }

    #[test]
    fn lists_parse_with_lines() {
        let parsed = settings(
            "disk = [ 'phy:/dev/vda,xvda,w',\n  # a comment inside\n  \"file:/x\", 7, ]\nvif = []\n",
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].key, "disk");
        assert_eq!(parsed[0].line, 1);
        assert_eq!(
            parsed[0].value,
            Value::List(vec![
                ListItem {
                    line: 1,
                    value: string("phy:/dev/vda,xvda,w")
                },
                ListItem {
                    line: 3,
                    value: string("file:/x")
                },
                ListItem {
                    line: 3,
                    value: bare("7")
                },
            ])
        );
        assert_eq!(parsed[1].line, 4);
        assert_eq!(parsed[1].value, Value::List(Vec::new()));
    }

    #[test]
    fn list_spanning_lines_before_first_item() {
        let parsed = settings("disk = [\n\n 'a'\n ,\n 'b'\n]\nname = 'n'");
        assert_eq!(
            parsed[0].value,
            Value::List(vec![
                ListItem {
                    line: 3,
                    value: string("a")
                },
                ListItem {
                    line: 5,
                    value: string("b")
                },
            ])
        );
        assert_eq!(parsed[1].line, 7);
    }

    #[test]
    fn empty_and_comment_only_files_have_no_settings() {
        assert!(settings("").is_empty());
        assert!(settings("# only a comment").is_empty());
        assert!(settings("\n\n  \t\n;;\n").is_empty());
    }

    #[test]
    fn error_invalid_memory() {
        assert_eq!(
            error("name = \"guest1\"\nkernel = \"/boot/domu\"\nmemory = lots\n"),
            "guest1.cfg:3: invalid value 'lots' for memory: expected a number of MiB"
        );
    }

    #[test]
    fn error_memory_quoted_text() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = \"lots\"")),
            "guest1.cfg:3: invalid value 'lots' for memory: expected a number of MiB"
        );
    }

    #[test]
    fn error_memory_with_unit_suffix() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 512M")),
            "guest1.cfg:3: invalid value '512M' for memory: expected a number of MiB"
        );
    }

    #[test]
    fn error_memory_too_small() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 3")),
            "guest1.cfg:3: invalid value '3' for memory: a guest needs at least 4 MiB"
        );
    }

    #[test]
    fn error_memory_too_large() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 0xfffffffffffff")),
            "guest1.cfg:3: invalid value '0xfffffffffffff' for memory: \
             the maximum is 17592186044415 MiB"
        );
        assert_eq!(
            config(&format!("{MINIMAL}memory = {MAX_MEMORY_MIB}")).memory_mib,
            MAX_MEMORY_MIB
        );
    }

    #[test]
    fn error_memory_overflows_u64() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 18446744073709551616")),
            "guest1.cfg:3: invalid value '18446744073709551616' for memory: \
             the number does not fit in 64 bits"
        );
    }

    #[test]
    fn error_memory_leading_zero() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 010")),
            "guest1.cfg:3: invalid value '010' for memory: leading zeros are not allowed, \
             because Xen reads such numbers as octal; write the number in decimal"
        );
    }

    #[test]
    fn error_memory_list() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = [1]")),
            "guest1.cfg:3: invalid value for memory: expected a number of MiB, not a list"
        );
    }

    #[test]
    fn error_unknown_key() {
        assert_eq!(
            error(&format!("{MINIMAL}\n\nmemroy = 64")),
            "guest1.cfg:5: unknown key 'memroy'; known keys: name, kernel, memory, vcpus, \
             extra, on_poweroff, on_reboot, on_crash"
        );
    }

    #[test]
    fn error_missing_kernel() {
        assert_eq!(
            error("name = \"guest1\"\nmemory = 32\n"),
            "guest1.cfg: missing required key 'kernel'"
        );
    }

    #[test]
    fn error_missing_name() {
        assert_eq!(error(""), "guest1.cfg: missing required key 'name'");
        assert_eq!(
            error("kernel = '/k'"),
            "guest1.cfg: missing required key 'name'"
        );
    }

    #[test]
    fn error_duplicate_key() {
        assert_eq!(
            error(&format!("{MINIMAL}memory = 32\n\n\n\nname = \"other\"\n")),
            "guest1.cfg:7: duplicate key 'name' (first set on line 1)"
        );
    }

    #[test]
    fn error_file_name_is_path_given() {
        let error = parse("/etc/xen/web.cfg", b"name = 'a'").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/xen/web.cfg: missing required key 'kernel'"
        );
        assert_eq!(error.file, "/etc/xen/web.cfg");
        assert_eq!(error.line, None);
    }

    #[test]
    fn error_reports_first_problem_in_line_order() {
        let error = parse(FILE, b"memory = 1\nvcpus = 2\n").unwrap_err();
        assert_eq!(error.line, Some(1));
    }

    #[test]
    fn error_unterminated_double_quote() {
        assert_eq!(
            error("name = \"guest1\"\nkernel = \"/boot/domu\nmemory = 16\n"),
            "guest1.cfg:2: missing closing \" for the string that starts \"/boot/domu"
        );
    }

    #[test]
    fn error_unterminated_single_quote_at_end_of_file() {
        assert_eq!(
            error("name = 'guest1"),
            "guest1.cfg:1: missing closing ' for the string that starts 'guest1"
        );
    }

    #[test]
    fn error_unterminated_after_backslash() {
        assert_eq!(
            error("name = 'guest1\\\n"),
            "guest1.cfg:1: missing closing ' for the string that starts 'guest1"
        );
    }

    #[test]
    fn error_invalid_escape() {
        assert_eq!(
            error("kernel = \"C:\\boot\\q\""),
            "guest1.cfg:1: invalid escape '\\q' in a string; write '\\\\' for a backslash"
        );
    }

    #[test]
    fn error_short_hex_escape() {
        assert_eq!(
            error("extra = \"\\x4\""),
            "guest1.cfg:1: invalid escape in a string: '\\x' needs two hex digits, like \\x1b"
        );
    }

    #[test]
    fn error_garbage_line() {
        assert_eq!(
            error(&format!("{MINIMAL}this is garbage\n")),
            "guest1.cfg:3: expected '=' after 'this', found 'is'; settings have the form key = value"
        );
    }

    #[test]
    fn error_key_without_value() {
        assert_eq!(
            error("name\n"),
            "guest1.cfg:1: expected '=' after 'name'; settings have the form key = value"
        );
        assert_eq!(
            error("memory =\n"),
            "guest1.cfg:1: missing value after 'memory ='"
        );
        assert_eq!(
            error("memory = ;"),
            "guest1.cfg:1: missing value after 'memory ='"
        );
    }

    #[test]
    fn error_value_without_key() {
        assert_eq!(
            error("= 5"),
            "guest1.cfg:1: missing key before '='; settings have the form key = value"
        );
        assert_eq!(
            error("\n\"name\" = 5"),
            "guest1.cfg:2: expected a key, found a string; settings have the form key = value"
        );
        assert_eq!(
            error("]"),
            "guest1.cfg:1: expected a key, found ']'; settings have the form key = value"
        );
    }

    #[test]
    fn error_two_equals() {
        assert_eq!(
            error("memory = = 5"),
            "guest1.cfg:1: expected a value after 'memory =', found '='"
        );
    }

    #[test]
    fn error_text_after_value() {
        assert_eq!(
            error("name = my guest"),
            "guest1.cfg:1: unexpected 'guest' after the value of 'name'; quote values that \
             contain spaces, and put each setting on its own line"
        );
        assert_eq!(
            error("name = 'a' 'b'"),
            "guest1.cfg:1: unexpected a string after the value of 'name'; quote values that \
             contain spaces, and put each setting on its own line"
        );
    }

    #[test]
    fn error_unclosed_list() {
        assert_eq!(
            error("name = 'a'\ndisk = [ 'x',\n 'y'\n"),
            "guest1.cfg:2: missing ']' for the list of 'disk' that starts on line 2"
        );
        assert_eq!(
            error("disk = ["),
            "guest1.cfg:1: missing ']' for the list of 'disk' that starts on line 1"
        );
    }

    #[test]
    fn error_nested_list() {
        assert_eq!(
            error("disk = [ 'a',\n [ 'b' ] ]"),
            "guest1.cfg:2: invalid '[' inside the list of 'disk': lists cannot be nested"
        );
    }

    #[test]
    fn error_list_missing_comma() {
        assert_eq!(
            error("disk = [ 'a' 'b' ]"),
            "guest1.cfg:1: expected ',' or ']' after a value in the list of 'disk', found a string"
        );
    }

    #[test]
    fn error_list_double_comma() {
        assert_eq!(
            error("disk = [ 'a',, 'b' ]"),
            "guest1.cfg:1: expected a value or ']' in the list of 'disk', found ','"
        );
        assert_eq!(
            error("disk = [ , ]"),
            "guest1.cfg:1: expected a value or ']' in the list of 'disk', found ','"
        );
    }

    #[test]
    fn error_invalid_utf8_names_line() {
        let error = parse(FILE, b"name = 'a'\nkernel = '/k\xff'\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "guest1.cfg:2: invalid UTF-8 byte 0xff; save the file as UTF-8 text"
        );
    }

    #[test]
    fn error_name_unquoted() {
        assert_eq!(
            error("name = guest1"),
            "guest1.cfg:1: invalid value 'guest1' for name: expected a string in quotes, \
             like name = \"guest1\""
        );
    }

    #[test]
    fn error_name_empty() {
        assert_eq!(
            error("name = ''"),
            "guest1.cfg:1: invalid value '' for name: the name is empty; use 1 to 32 characters"
        );
    }

    #[test]
    fn error_name_too_long() {
        let name = "n".repeat(MAX_NAME_LENGTH + 1);
        assert_eq!(
            error(&format!("name = '{name}'")),
            "guest1.cfg:1: invalid value 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' for name: \
             the name is 33 bytes long; use at most 32"
        );
    }

    #[test]
    fn error_name_with_space() {
        assert_eq!(
            error("name = 'my guest'"),
            "guest1.cfg:1: invalid value 'my guest' for name: character ' ' is not allowed; \
             use letters, digits, '_', '.' and '-'"
        );
    }

    #[test]
    fn error_name_with_non_ascii_letter() {
        assert_eq!(
            error("name = 'gäst'"),
            "guest1.cfg:1: invalid value 'gäst' for name: character 'ä' is not allowed; \
             use letters, digits, '_', '.' and '-'"
        );
    }

    #[test]
    fn error_name_with_control_character() {
        assert_eq!(
            error("name = 'a\\x1bb'"),
            "guest1.cfg:1: invalid value 'a\\u{1b}b' for name: character '\\u{1b}' is not \
             allowed; use letters, digits, '_', '.' and '-'"
        );
    }

    #[test]
    fn error_name_of_dom0() {
        assert_eq!(
            error("name = 'Domain-0'"),
            "guest1.cfg:1: invalid value 'Domain-0' for name: Domain-0 is the name of Dom0; \
             choose another name"
        );
    }

    #[test]
    fn error_name_of_only_digits() {
        assert_eq!(
            error("name = '42'"),
            "guest1.cfg:1: invalid value '42' for name: a name of only digits would be read \
             as a domain id; add a letter"
        );
    }

    #[test]
    fn error_kernel_empty() {
        assert_eq!(
            error("kernel = ''"),
            "guest1.cfg:1: invalid value '' for kernel: expected the path of a kernel image \
             in the Dom0 ramdisk, like \"/boot/domu\""
        );
    }

    #[test]
    fn error_kernel_with_nul() {
        assert_eq!(
            error("kernel = '/boot\\x00x'"),
            "guest1.cfg:1: invalid value '/boot\\0x' for kernel: the path contains \
             control characters; remove them"
        );
    }

    #[test]
    fn error_kernel_number() {
        assert_eq!(
            error("kernel = 5"),
            "guest1.cfg:1: invalid value '5' for kernel: expected a string in quotes, \
             like kernel = \"/boot/domu\""
        );
    }

    #[test]
    fn error_vcpus_not_one() {
        for count in ["0", "2", "64"] {
            assert_eq!(
                error(&format!("{MINIMAL}vcpus = {count}")),
                format!(
                    "guest1.cfg:3: invalid value '{count}' for vcpus: Hospes supports only \
                     1 vCPU per guest; set vcpus = 1"
                )
            );
        }
    }

    #[test]
    fn error_vcpus_not_number() {
        assert_eq!(
            error(&format!("{MINIMAL}vcpus = many")),
            "guest1.cfg:3: invalid value 'many' for vcpus: expected a number of vCPUs"
        );
    }

    #[test]
    fn error_extra_too_long() {
        let extra = "x".repeat(MAX_EXTRA_LENGTH + 1);
        assert_eq!(
            error(&format!("extra = '{extra}'")),
            "guest1.cfg:1: invalid value 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' for \
             extra: the text is 1024 bytes long, and the guest command line has room for at most 1023"
        );
    }

    #[test]
    fn error_extra_with_nul() {
        assert_eq!(
            error("extra = 'a\\x00b'"),
            "guest1.cfg:1: invalid value 'a\\0b' for extra: the text contains a NUL \
             character, which would end the command line early"
        );
    }

    #[test]
    fn error_actions_not_supported() {
        for action in ["rename-restart", "coredump-destroy", "coredump-restart"] {
            assert_eq!(
                error(&format!("on_crash = \"{action}\"")),
                format!(
                    "guest1.cfg:1: invalid value '{action}' for on_crash: {action} is not \
                     supported by Hospes; use destroy, restart or preserve"
                )
            );
        }
    }

    #[test]
    fn error_action_unknown() {
        assert_eq!(
            error("on_reboot = 'reboot'"),
            "guest1.cfg:1: invalid value 'reboot' for on_reboot: expected destroy, restart \
             or preserve"
        );
    }

    #[test]
    fn error_action_unquoted() {
        assert_eq!(
            error("on_poweroff = destroy"),
            "guest1.cfg:1: invalid value 'destroy' for on_poweroff: expected a string in \
             quotes, like on_poweroff = \"destroy\""
        );
    }

    #[test]
    fn error_shows_long_values_cut() {
        let word = "w".repeat(100);
        let message = error(&format!("{word} = 1"));
        assert!(message.starts_with(&format!(
            "guest1.cfg:1: unknown key '{}...'",
            "w".repeat(40)
        )));
    }

    #[test]
    fn shown_escapes_unprintable_characters() {
        assert_eq!(shown("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(shown("tab\there"), "tab\\there");
        assert_eq!(shown("it's \"x\" \\ y"), "it's \"x\" \\ y");
        assert_eq!(shown("gäst"), "gäst");
    }

    #[test]
    fn integer_parser_cases() {
        assert_eq!(parse_integer("0"), Ok(0));
        assert_eq!(parse_integer("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_integer("0xFFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        assert_eq!(parse_integer("0X10"), Ok(16));
        assert_eq!(parse_integer("0x"), Err(IntegerError::NotANumber));
        assert_eq!(parse_integer(""), Err(IntegerError::NotANumber));
        assert_eq!(parse_integer("-1"), Err(IntegerError::NotANumber));
        assert_eq!(parse_integer("+1"), Err(IntegerError::NotANumber));
        assert_eq!(parse_integer("1_000"), Err(IntegerError::NotANumber));
        assert_eq!(parse_integer("00"), Err(IntegerError::LeadingZero));
        assert_eq!(
            parse_integer("0x10000000000000000"),
            Err(IntegerError::TooLarge)
        );
    }

    /// xorshift64: a fixed-seed generator, so that a failure repeats.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    /// Parses `input` and checks that an error names a line inside it.
    fn check_never_panics(input: &[u8]) {
        let lines = 1 + input.iter().filter(|&&byte| byte == b'\n').count();
        if let Err(error) = parse(FILE, input) {
            if let Some(line) = error.line {
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} outside 1..={lines} for {input:?}: {error}"
                );
            }
            assert!(!error.message.is_empty(), "empty message for {input:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let length = random.below(64);
            let input: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
            check_never_panics(&input);
        }
    }

    #[test]
    fn random_token_soup_never_panics() {
        const PIECES: [&str; 24] = [
            "name",
            "kernel",
            "memory",
            "vcpus",
            "extra",
            "on_crash",
            " = ",
            "=",
            "\"",
            "'",
            "[",
            "]",
            ",",
            ";",
            "#",
            "\n",
            "\\",
            "\\x",
            "4",
            "0x1f",
            "'/boot/domu'",
            " ",
            "destroy",
            "\u{e4}",
        ];
        let mut random = Random(0x0123_4567_89ab_cdef);
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..random.below(16) {
                input.push_str(PIECES[random.below(PIECES.len())]);
            }
            check_never_panics(input.as_bytes());
        }
    }

    #[test]
    fn mutated_valid_config_never_panics() {
        let valid = "name = 'guest1'\nkernel = \"/boot/domu\"\nmemory = 32\n\
                     disk = [ 'a', 'b' ]\non_crash = 'preserve'\n";
        let mut random = Random(0xdead_beef_cafe_f00d);
        for _ in 0..20_000 {
            let mut input = valid.as_bytes().to_vec();
            for _ in 0..1 + random.below(4) {
                let position = random.below(input.len() + 1);
                match random.below(3) {
                    0 => input.insert(position, random.next() as u8),
                    1 if position < input.len() => {
                        input.remove(position);
                    }
                    _ if position < input.len() => input[position] = random.next() as u8,
                    _ => {}
                }
            }
            check_never_panics(&input);
        }
    }

    #[test]
    fn shipped_example_configs_parse() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/rootfs/etc/xen");
        let mut parsed = 0;
        for entry in std::fs::read_dir(directory).expect("rootfs/etc/xen exists") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                continue;
            }
            let text = std::fs::read(&path).expect("config readable");
            let config = parse(&path.display().to_string(), &text).expect("example config parses");
            assert_eq!(config.kernel, "/boot/domu", "{}", path.display());
            parsed += 1;
        }
        assert_eq!(parsed, 3);
    }
}
