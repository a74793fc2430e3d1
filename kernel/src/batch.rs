//! Preemptible hypercall batches.
//!
//! `mmu_update`, `mmuext_op` and `grant_table_op` take arrays of guest-chosen
//! length. Run in one go, a long array would keep the CPU for as long as the
//! guest likes. As on Xen, a batch that runs past its time budget stops
//! between two records and becomes a continuation. The hypervisor rewinds
//! the guest's instruction pointer to the hypercall instruction and rewrites
//! the argument registers, so the call, executed again, resumes where it
//! stopped. Interrupts and other domains run in between.
//!
//! `mmu_update` and `mmuext_op` mark a resumed call with
//! [`PREEMPTED`] in the count argument, as Xen's `MMU_UPDATE_PREEMPTED`
//! does, and carry the number of records applied so far in `*done`. A guest
//! may set the flag itself; that only changes the count it reads back.

/// Bit 31 of the count argument: the call resumes a preempted batch.
pub const PREEMPTED: u64 = 1 << 31;

/// The end state of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<E> {
    /// Every record was applied, or one failed with the error; `applied`
    /// counts the records applied before the end.
    Finished { applied: u32, result: Result<(), E> },
    /// The budget ran out after `applied` records; the rest are left.
    Preempted { applied: u32 },
}

/// Applies records `0..count` with `apply`, stopping at the first failure.
/// Before each record after the first, `out_of_time` is asked whether the
/// budget is spent; if so the batch stops there. At least one record runs
/// per call, so every continuation makes progress.
pub fn run<E>(count: u32, mut apply: impl FnMut(u32) -> Result<(), E>, mut out_of_time: impl FnMut() -> bool) -> Step<E> {
    for index in 0..count {
        if index > 0 && out_of_time() {
            return Step::Preempted { applied: index };
        }
        if let Err(error) = apply(index) {
            return Step::Finished { applied: index, result: Err(error) };
        }
    }
    Step::Finished { applied: count, result: Ok(()) }
}

/// Splits a `mmu_update` or `mmuext_op` count argument into the number of
/// records and whether the call resumes a preempted batch. Returns None for
/// a count that does not fit the 31 bits left beside the flag.
pub fn decode_count(argument: u64) -> Option<(u32, bool)> {
    let resumed = argument & PREEMPTED != 0;
    let count = u32::try_from(argument & !PREEMPTED).ok().filter(|&count| (count as u64) < PREEMPTED)?;
    Some((count, resumed))
}

/// Returns the count argument of the continuation after `applied` of
/// `count` records.
pub fn continuation_count(count: u32, applied: u32) -> u64 {
    (count - applied) as u64 | PREEMPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_runs_to_the_end() {
        let mut seen = Vec::new();
        let step: Step<()> = run(
            4,
            |index| {
                seen.push(index);
                Ok(())
            },
            || false,
        );
        assert_eq!(step, Step::Finished { applied: 4, result: Ok(()) });
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn batch_stops_at_first_failure() {
        let step = run(5, |index| if index == 2 { Err("bad") } else { Ok(()) }, || false);
        assert_eq!(step, Step::Finished { applied: 2, result: Err("bad") });
    }

    #[test]
    fn batch_preempts_after_budget_but_always_progresses() {
        let mut checks = 0;
        let step: Step<()> = run(
            10,
            |_| Ok(()),
            || {
                checks += 1;
                checks >= 3
            },
        );
        assert_eq!(step, Step::Preempted { applied: 3 });
        let step: Step<()> = run(10, |_| Ok(()), || true);
        assert_eq!(step, Step::Preempted { applied: 1 });
        let empty: Step<()> = run(0, |_| Ok(()), || true);
        assert_eq!(empty, Step::Finished { applied: 0, result: Ok(()) });
    }

    #[test]
    fn resumed_batch_covers_every_record_once() {
        // A 100-record batch whose budget allows 7 records per call.
        let mut done = 0u32;
        let mut argument = 100u64;
        let mut calls = 0;
        loop {
            calls += 1;
            let (count, resumed) = decode_count(argument).expect("valid count");
            assert_eq!(resumed, calls > 1);
            let mut ticks = 0;
            let step: Step<()> = run(
                count,
                |_| Ok(()),
                || {
                    ticks += 1;
                    ticks >= 7
                },
            );
            match step {
                Step::Preempted { applied } => {
                    done += applied;
                    argument = continuation_count(count, applied);
                }
                Step::Finished { applied, result } => {
                    assert_eq!(result, Ok(()));
                    done += applied;
                    break;
                }
            }
        }
        assert_eq!(done, 100);
        assert_eq!(calls, 15);
    }

    #[test]
    fn count_argument_decodes_flag_and_rejects_overflow() {
        assert_eq!(decode_count(5), Some((5, false)));
        assert_eq!(decode_count(5 | PREEMPTED), Some((5, true)));
        assert_eq!(decode_count(PREEMPTED - 1), Some((0x7FFF_FFFF, false)));
        assert_eq!(decode_count(1 << 32), None);
        assert_eq!(decode_count(u64::MAX), None);
        assert_eq!(continuation_count(10, 4), 6 | PREEMPTED);
    }
}
