use std::fmt;
use std::io;
use std::path::Path;

/// A failed build or launch step. The message names the step, the value it
/// failed on and what to do about it.
pub struct Error {
    message: String,
}

/// Result of a step in this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Creates an error with a complete message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// Creates an error for an I/O operation `action` (such as "read") on `path`.
    pub fn io(action: &str, path: &Path, source: io::Error) -> Error {
        Error::new(format!("failed to {action} {}: {source}", path.display()))
    }

    /// Returns the message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

// Debug prints the message as is, so `fn main() -> Result<..>` and tests that
// return this error show a readable text, not a struct dump.
impl fmt::Debug for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
