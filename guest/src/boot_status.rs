//! Boot status reports that a guest kernel writes on its console.
//!
//! Each report is an Operating System Command sequence, `ESC ] hospes;...
//! BEL`, so a terminal that shows the raw console ignores it. Dom0's console
//! backend reads the reports to learn how far a guest has booted (`xl create
//! -w` waits for [`READY`]) and removes them from what users see. A guest
//! writes [`Stage`] reports in boot order, then [`READY`] once it accepts
//! commands, so a backend that times out can name the last stage reached.

/// Bytes that start every report: ESC, `]` and `hospes;`.
pub const PREFIX: &[u8] = b"\x1b]hospes;";

/// Byte that ends every report: BEL.
pub const TERMINATOR: u8 = 0x07;

/// The report that the guest is up and reads console input.
pub const READY: &[u8] = b"\x1b]hospes;ready\x07";

/// A boot stage that a guest has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The runtime has set up traps, events and the heap, and runs the kernel's main function.
    Runtime,
    /// The console is attached and set up for input.
    Console,
    /// The shell is set up, and only the banner and [`READY`] remain.
    Shell,
}

impl Stage {
    /// Every stage, in boot order.
    pub const ALL: [Stage; 3] = [Stage::Runtime, Stage::Console, Stage::Shell];

    /// Returns the stage's name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Runtime => "runtime",
            Stage::Console => "console",
            Stage::Shell => "shell",
        }
    }

    /// Returns the report for this stage: `ESC ] hospes;stage=NAME BEL`.
    pub const fn report(self) -> &'static [u8] {
        match self {
            Stage::Runtime => b"\x1b]hospes;stage=runtime\x07",
            Stage::Console => b"\x1b]hospes;stage=console\x07",
            Stage::Shell => b"\x1b]hospes;stage=shell\x07",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_report_bytes() {
        let mut expected = vec![0x1b, 0x5d];
        expected.extend_from_slice(b"hospes;ready");
        expected.push(0x07);
        assert_eq!(READY, expected.as_slice());
    }

    #[test]
    fn stage_reports_follow_the_format() {
        for stage in Stage::ALL {
            let report = stage.report();
            let body = report
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.strip_suffix(&[TERMINATOR]))
                .unwrap_or_else(|| {
                    panic!("{stage:?} report {report:?} lacks the prefix or the BEL")
                });
            let name = body
                .strip_prefix(b"stage=")
                .unwrap_or_else(|| panic!("{stage:?} report has no stage= key"));
            assert_eq!(name, stage.name().as_bytes());
        }
    }

    #[test]
    fn reports_contain_no_inner_control_bytes() {
        // A BEL or ESC inside a report would end it early in the backend's parser.
        for report in Stage::ALL.map(Stage::report).into_iter().chain([READY]) {
            let inner = &report[2..report.len() - 1];
            assert!(
                inner.iter().all(|byte| byte.is_ascii_graphic()),
                "report {report:?} has a control byte inside"
            );
        }
    }
}
