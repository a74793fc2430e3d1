//! `xl list`: the table of domains, in the layout of `list_domains()` in Xen
//! 4.19's `tools/xl/xl_info.c`. Its row format is
//! `"%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f"`: name, id, memory in MiB,
//! online vCPUs, six state letters and CPU time in seconds.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::DomId;
use hypercalls::sched::ShutdownReason;
use hypercalls::sysctl::{
    DOMINF_BLOCKED, DOMINF_DYING, DOMINF_PAUSED, DOMINF_RUNNING, DOMINF_SHUTDOWN,
    DOMINF_SHUTDOWN_SHIFT, DomainInfo,
};

use crate::domname::name_of;

/// First line of `xl list`, with Xen's tabs.
pub const HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";
/// Name printed for a domain that the toolstack has no name for, as glibc's
/// printf prints Xen's NULL name.
pub const NO_NAME: &str = "(null)";

/// Pages in one MiB.
const PAGES_PER_MIB: u64 = (1 << 20) / hypercalls::PAGE_SIZE as u64;
/// Mask of the shutdown reason after shifting `DomainInfo::flags` right by
/// `DOMINF_SHUTDOWN_SHIFT` (Xen's `XEN_DOMINF_shutdownmask`).
const SHUTDOWN_REASON_MASK: u32 = 0xff;
const NANOSECONDS_PER_TENTH: u64 = 100_000_000;

/// Formats `xl list`: [`HEADER`], then one row per domain in the order of
/// `domains`. `names` is the toolstack's `(id, name)` table, which
/// [`name_of`] reads. Returns the lines without line ends.
pub fn format_list<S: AsRef<str>>(domains: &[DomainInfo], names: &[(DomId, S)]) -> Vec<String> {
    let mut lines = Vec::with_capacity(domains.len() + 1);
    lines.push(String::from(HEADER));
    for info in domains {
        lines.push(format_row(name_of(names, info.domain), info));
    }
    lines
}

/// Formats one row of `xl list`, with [`NO_NAME`] when `name` is `None`.
pub fn format_row(name: Option<&str>, info: &DomainInfo) -> String {
    let name = name.unwrap_or(NO_NAME);
    // Xen's xl adds the outstanding claim to the current allocation.
    let memory_mib = info.tot_pages.saturating_add(info.outstanding_pages) / PAGES_PER_MIB;
    format!(
        "{name:<40} {:>5} {memory_mib:>5} {:>5}     {}  {:>8}",
        info.domain,
        info.nr_online_vcpus,
        state_letters(info.flags),
        format_seconds(info.cpu_time),
    )
}

/// Returns the six-letter State column for `DomainInfo::flags`. Each letter
/// has its own position and is `-` when not set. The positions are `r`
/// running, `b` blocked, `p` paused, `s` shut down, the shutdown reason and
/// `d` dying. The reason letter is `-` poweroff, `r` reboot, `s` suspend,
/// `c` crash, `w` watchdog, `S` soft reset or `?` for an unknown reason, so a
/// crashed domain is `---sc-`.
pub fn state_letters(flags: u32) -> String {
    let letter = |bit: u32, letter: char| if flags & bit != 0 { letter } else { '-' };

    let reason = if flags & DOMINF_SHUTDOWN != 0 {
        let code = (flags >> DOMINF_SHUTDOWN_SHIFT) & SHUTDOWN_REASON_MASK;
        match ShutdownReason::try_from(code) {
            Ok(ShutdownReason::Poweroff) => '-',
            Ok(ShutdownReason::Reboot) => 'r',
            Ok(ShutdownReason::Suspend) => 's',
            Ok(ShutdownReason::Crash) => 'c',
            Ok(ShutdownReason::Watchdog) => 'w',
            Ok(ShutdownReason::SoftReset) => 'S',
            Err(_) => '?',
        }
    } else {
        '-'
    };

    [
        letter(DOMINF_RUNNING, 'r'),
        letter(DOMINF_BLOCKED, 'b'),
        letter(DOMINF_PAUSED, 'p'),
        letter(DOMINF_SHUTDOWN, 's'),
        reason,
        letter(DOMINF_DYING, 'd'),
    ]
    .iter()
    .collect()
}

/// Formats nanoseconds as seconds with one decimal, as `%.1f` does.
///
/// NOTE: this rounds halves up, in integers. Xen's xl converts the time to a
/// `float` first, and glibc rounds an exact half to even. So a time that ends
/// in exactly 50 ms can differ from Xen in the last digit. Above 2^24 ns the
/// `float` also loses precision, so a time close to a half can differ too.
fn format_seconds(nanoseconds: u64) -> String {
    let remainder = nanoseconds % NANOSECONDS_PER_TENTH;
    let round_up = u64::from(remainder >= NANOSECONDS_PER_TENTH / 2);
    let tenths = nanoseconds / NANOSECONDS_PER_TENTH + round_up;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 256;

    fn info(domain: DomId, flags: u32, mib: u64, cpu_time: u64) -> DomainInfo {
        DomainInfo {
            domain,
            flags,
            tot_pages: mib * MIB,
            nr_online_vcpus: 1,
            cpu_time,
            ..DomainInfo::default()
        }
    }

    fn shutdown(reason: u32) -> u32 {
        DOMINF_SHUTDOWN | (reason << DOMINF_SHUTDOWN_SHIFT)
    }

    #[test]
    fn header_matches_xen() {
        assert_eq!(
            HEADER,
            "Name                                        ID   Mem VCPUs\tState\tTime(s)"
        );
        assert_eq!(HEADER.find("ID"), Some(44));
    }

    #[test]
    fn list_of_dom0_and_guests() {
        let domains = [
            info(0, DOMINF_RUNNING, 128, 12_345_678_901),
            info(1, DOMINF_BLOCKED, 16, 400_000_000),
            info(3, DOMINF_PAUSED, 64, 0),
            info(9, DOMINF_BLOCKED, 4, 1_000),
        ];
        let names = [(1, "guest1"), (3, "web.example-1_a")];
        assert_eq!(
            format_list(&domains, &names),
            [
                HEADER,
                "Domain-0                                     0   128     1     r-----      12.3",
                "guest1                                       1    16     1     -b----       0.4",
                "web.example-1_a                              3    64     1     --p---       0.0",
                "(null)                                       9     4     1     -b----       0.0",
            ]
        );
    }

    #[test]
    fn list_with_owned_names() {
        let names = [(2, String::from("owned"))];
        let lines = format_list(&[info(2, 0, 16, 0)], &names);
        assert_eq!(
            lines[1],
            "owned                                        2    16     1     ------       0.0"
        );
    }

    #[test]
    fn list_of_nothing_is_header() {
        assert_eq!(format_list::<&str>(&[], &[]), [HEADER]);
    }

    #[test]
    fn row_widths_for_large_values() {
        let mut large = info(32751, DOMINF_RUNNING, 99_999, 123_456_789_000_000_000);
        large.nr_online_vcpus = 12345;
        assert_eq!(
            format_row(Some("n"), &large),
            "n                                        32751 99999 12345     r-----  123456789.0"
        );
    }

    #[test]
    fn row_name_longer_than_column() {
        let name = "x".repeat(45);
        let row = format_row(Some(&name), &info(4, 0, 16, 0));
        assert_eq!(
            row,
            format!("{name}     4    16     1     ------       0.0")
        );
    }

    #[test]
    fn memory_counts_outstanding_and_rounds_down() {
        let mut domain = info(5, 0, 0, 0);
        domain.tot_pages = 1000;
        domain.outstanding_pages = 100;
        let row = format_row(Some("m"), &domain);
        assert_eq!(&row[41..52], "    5     4", "row {row:?}");
    }

    #[test]
    fn memory_does_not_overflow() {
        let mut domain = info(5, 0, 0, 0);
        domain.tot_pages = u64::MAX;
        domain.outstanding_pages = u64::MAX;
        let row = format_row(Some("m"), &domain);
        assert!(
            row.contains(&format!(" {} ", u64::MAX / MIB)),
            "row {row:?}"
        );
    }

    #[test]
    fn state_of_each_flag() {
        assert_eq!(state_letters(0), "------");
        assert_eq!(state_letters(DOMINF_RUNNING), "r-----");
        assert_eq!(state_letters(DOMINF_BLOCKED), "-b----");
        assert_eq!(state_letters(DOMINF_PAUSED), "--p---");
        assert_eq!(state_letters(DOMINF_DYING), "-----d");
    }

    #[test]
    fn state_of_each_shutdown_reason() {
        assert_eq!(state_letters(shutdown(0)), "---s--");
        assert_eq!(state_letters(shutdown(1)), "---sr-");
        assert_eq!(state_letters(shutdown(2)), "---ss-");
        assert_eq!(state_letters(shutdown(3)), "---sc-");
        assert_eq!(state_letters(shutdown(4)), "---sw-");
        assert_eq!(state_letters(shutdown(5)), "---sS-");
        assert_eq!(state_letters(shutdown(6)), "---s?-");
        assert_eq!(state_letters(shutdown(0xff)), "---s?-");
    }

    #[test]
    fn state_ignores_reason_without_shutdown() {
        assert_eq!(state_letters(3 << DOMINF_SHUTDOWN_SHIFT), "------");
    }

    #[test]
    fn state_with_every_flag() {
        let flags = DOMINF_RUNNING | DOMINF_BLOCKED | DOMINF_PAUSED | DOMINF_DYING | shutdown(3);
        assert_eq!(state_letters(flags), "rbpscd");
    }

    #[test]
    fn state_ignores_bits_above_reason() {
        assert_eq!(state_letters(shutdown(3) | (1 << 24)), "---sc-");
    }

    #[test]
    fn crashed_dying_guest_row() {
        let row = format_row(Some("guest1"), &info(2, shutdown(3) | DOMINF_DYING, 16, 0));
        assert_eq!(
            row,
            "guest1                                       2    16     1     ---scd       0.0"
        );
    }

    #[test]
    fn seconds_round_to_one_decimal() {
        assert_eq!(format_seconds(0), "0.0");
        assert_eq!(format_seconds(49_999_999), "0.0");
        assert_eq!(format_seconds(50_000_000), "0.1");
        assert_eq!(format_seconds(1_949_999_999), "1.9");
        assert_eq!(format_seconds(1_950_000_000), "2.0");
        assert_eq!(format_seconds(9_960_000_000), "10.0");
        assert_eq!(format_seconds(u64::MAX), "18446744073.7");
    }
}
