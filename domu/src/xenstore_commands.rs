//! The DomU shell's xenstore commands: `xs-read PATH`, `xs-write PATH
//! VALUE`, `xs-ls PATH` and `xs-watch PATH`. Paths without a leading `/`
//! are relative to the domain's home, `/local/domain/<domid>`.

use crate::shell::Platform;
use crate::terminal::Text;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use hypercalls::xenstore::message;

/// Runs the xenstore command `command` with the rest of the line. Returns
/// false when `command` is no xenstore command.
pub fn run(command: &str, argument: &str, platform: &mut impl Platform) -> bool {
    let (usage, wanted) = match command {
        "xs-read" => ("xs-read PATH", 1),
        "xs-write" => ("xs-write PATH VALUE", 2),
        "xs-ls" => ("xs-ls PATH", 1),
        "xs-watch" => ("xs-watch PATH", 1),
        _ => return false,
    };
    let argument = argument.trim_end_matches(' ');
    let words: Vec<&str> = if wanted == 2 {
        argument.splitn(2, ' ').filter(|word| !word.is_empty()).collect()
    } else {
        argument.split(' ').filter(|word| !word.is_empty()).collect()
    };
    if words.len() != wanted {
        let _ = writeln!(Text(platform), "{command}: wrong number of arguments; usage: {usage}");
        return true;
    }
    let path = words[0];
    let mut payload = Vec::from(path.as_bytes());
    payload.push(0);
    let result = match command {
        "xs-read" => platform.xenstore_request(message::READ, &payload).map(|value| {
            let _ = writeln!(Text(platform), "{}", String::from_utf8_lossy(&value));
        }),
        "xs-write" => {
            payload.extend_from_slice(words[1].as_bytes());
            platform.xenstore_request(message::WRITE, &payload).map(|_| ())
        }
        "xs-ls" => platform.xenstore_request(message::DIRECTORY, &payload).map(|names| {
            for name in names.split(|&byte| byte == 0).filter(|name| !name.is_empty()) {
                let _ = writeln!(Text(platform), "{}", String::from_utf8_lossy(name));
            }
        }),
        _ => {
            payload.extend_from_slice(b"xs-watch\0");
            platform.xenstore_request(message::WATCH, &payload).map(|_| {
                let _ = writeln!(Text(platform), "xs-watch: watching {path}; events print as they come");
            })
        }
    };
    if let Err(error) = result {
        let _ = writeln!(Text(platform), "{command}: {path}: failed: {error}");
    }
    true
}

/// Formats one watch event for the console.
pub fn describe_event(path: &[u8], token: &[u8]) -> String {
    alloc::format!("xs-watch: event {} (token {})", String::from_utf8_lossy(path), String::from_utf8_lossy(token))
}
