//! Dom0's xenstore commands, as in Xen's tools: `xenstore-ls [PATH]`,
//! `xenstore-read PATH`, `xenstore-write PATH VALUE` and `xenstore-rm PATH`.
//! They act as Dom0, so permissions never stop them.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::commands::{Platform, write_line};

/// Runs the xenstore command `command` with `arguments`. Returns false when
/// `command` is no xenstore command.
pub fn run(command: &str, arguments: &[String], platform: &mut impl Platform) -> bool {
    let usage = match command {
        "xenstore-ls" => "xenstore-ls [PATH]",
        "xenstore-read" => "xenstore-read PATH",
        "xenstore-write" => "xenstore-write PATH VALUE",
        "xenstore-rm" => "xenstore-rm PATH",
        _ => return false,
    };
    let expected = match command {
        "xenstore-ls" => 0..=1,
        "xenstore-write" => 2..=2,
        _ => 1..=1,
    };
    if !expected.contains(&arguments.len()) {
        write_line(platform, &format!("{command}: wrong number of arguments; usage: {usage}"));
        return true;
    }

    let result = match command {
        "xenstore-ls" => list(platform, arguments.first().map_or("/", String::as_str)),
        "xenstore-read" => platform.xenstore().read(0, &arguments[0]).map(|value| {
            let text = escape(&value);
            write_line(platform, &text);
        }),
        "xenstore-write" => platform.xenstore().write(0, &arguments[0], arguments[1].as_bytes()),
        _ => platform.xenstore().remove(0, &arguments[0]),
    };
    if let Err(error) = result {
        let path = arguments.first().map_or("/", String::as_str);
        write_line(platform, &format!("{command}: {path}: failed: {error}"));
    }
    true
}

/// Prints the subtree below `root`, one `name = "value"` line per node,
/// indented one space per level as Xen's `xenstore-ls` does.
fn list(platform: &mut impl Platform, root: &str) -> Result<(), hypercalls::xenstore::StoreError> {
    let mut pending: Vec<(String, usize)> = Vec::new();
    let mut children = platform.xenstore().directory(0, root)?;
    children.reverse();
    pending.extend(children.into_iter().map(|name| (join(root, &name), 0)));
    while let Some((path, depth)) = pending.pop() {
        let store = platform.xenstore();
        let Ok(value) = store.read(0, &path) else { continue };
        let mut children = store.directory(0, &path).unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or("");
        write_line(platform, &format!("{:depth$}{name} = \"{}\"", "", escape(&value)));
        children.reverse();
        pending.extend(children.into_iter().map(|child| (join(&path, &child), depth + 1)));
    }
    Ok(())
}

fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') { format!("{parent}{name}") } else { format!("{parent}/{name}") }
}

/// Returns `value` as printable text: bytes outside printable ASCII, `"`
/// and `\` become `\xNN`.
fn escape(value: &[u8]) -> String {
    let mut text = String::with_capacity(value.len());
    for &byte in value {
        if (0x20..0x7F).contains(&byte) && byte != b'"' && byte != b'\\' {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::testing::{MockPlatform, run_on};

    #[test]
    fn write_then_read() {
        let mut platform = MockPlatform::new();
        assert!(run_on(&mut platform, "xenstore-write /local/domain/1/data/x \"a b\"").is_empty());
        assert_eq!(run_on(&mut platform, "xenstore-read /local/domain/1/data/x"), ["a b"]);
    }

    #[test]
    fn read_missing_names_error() {
        assert_eq!(
            run_on(&mut MockPlatform::new(), "xenstore-read /nope"),
            ["xenstore-read: /nope: failed: ENOENT"]
        );
    }

    #[test]
    fn ls_indents_each_level() {
        let mut platform = MockPlatform::new();
        run_on(&mut platform, "xenstore-write /local/domain/1/name guest1");
        run_on(&mut platform, "xenstore-write /local/domain/2/name \"quo\"\"te\"");
        assert_eq!(
            run_on(&mut platform, "xenstore-ls /local"),
            ["domain = \"\"", " 1 = \"\"", "  name = \"guest1\"", " 2 = \"\"", "  name = \"quote\""]
        );
        let whole = run_on(&mut platform, "xenstore-ls");
        assert_eq!(whole[0], "local = \"\"");
        assert!(whole.contains(&String::from("tool = \"\"")), "{whole:?}");
    }

    #[test]
    fn rm_removes_subtree() {
        let mut platform = MockPlatform::new();
        run_on(&mut platform, "xenstore-write /a/b/c v");
        assert!(run_on(&mut platform, "xenstore-rm /a").is_empty());
        assert_eq!(run_on(&mut platform, "xenstore-read /a/b/c"), ["xenstore-read: /a/b/c: failed: ENOENT"]);
    }

    #[test]
    fn wrong_argument_count_prints_usage() {
        assert_eq!(
            run_on(&mut MockPlatform::new(), "xenstore-write /a"),
            ["xenstore-write: wrong number of arguments; usage: xenstore-write PATH VALUE"]
        );
        assert_eq!(
            run_on(&mut MockPlatform::new(), "xenstore-read"),
            ["xenstore-read: wrong number of arguments; usage: xenstore-read PATH"]
        );
    }

    #[test]
    fn escape_hides_control_bytes() {
        assert_eq!(super::escape(b"a\n\"\x7f"), "a\\x0a\\x22\\x7f");
    }

    use alloc::string::String;
}
