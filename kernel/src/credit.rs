//! Credit scheduling in the spirit of Xen's credit scheduler.
//!
//! Every vCPU has a weight (default [`DEFAULT_WEIGHT`]) and a credit balance.
//! Each timer tick charges [`CREDIT_PER_TICK`] to the vCPU that was running.
//! Every [`TICKS_PER_PERIOD`] ticks the scheduler hands out the period's
//! credit to the vCPUs that wanted the CPU, in proportion to their weights.
//! The next vCPU is chosen by priority: BOOST (just woken from a block,
//! so interactive domains respond at once), then UNDER (credit left), then
//! OVER (credit spent), round robin within a priority after the current one.
//! A vCPU that blocks uses no CPU and earns no credit while blocked.

/// Weight a domain starts with, as on Xen.
pub const DEFAULT_WEIGHT: u16 = 256;
/// Largest weight `xl sched-credit -w` accepts, as on Xen.
pub const MAX_WEIGHT: u16 = 65535;
/// Credit one tick of running costs.
pub const CREDIT_PER_TICK: i64 = 100;
/// Ticks between two credit distributions.
pub const TICKS_PER_PERIOD: u64 = 3;
/// A balance is capped at one period's worth, so an idle domain cannot hoard.
const CREDIT_CAP: i64 = CREDIT_PER_TICK * TICKS_PER_PERIOD as i64;

/// The scheduler's view of one vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub weight: u16,
    pub credit: i64,
    /// Woken from a block since it last ran a full tick.
    pub boosted: bool,
    /// Ran during the current period (or is runnable), so it shares its credit.
    pub active: bool,
    /// Called `SCHEDOP_yield`: goes behind every other runnable vCPU once.
    pub yielded: bool,
}

impl Default for Account {
    fn default() -> Self {
        Account { weight: DEFAULT_WEIGHT, credit: 0, boosted: false, active: false, yielded: false }
    }
}

/// Priority classes, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Boost,
    Under,
    Over,
    /// Yielded: runs only when nothing else is runnable.
    Yielded,
}

impl Account {
    pub fn priority(&self) -> Priority {
        if self.yielded {
            Priority::Yielded
        } else if self.boosted {
            Priority::Boost
        } else if self.credit > 0 {
            Priority::Under
        } else {
            Priority::Over
        }
    }

    /// Charges one tick to the vCPU that was running; it loses any boost.
    pub fn charge_tick(&mut self) {
        self.credit -= CREDIT_PER_TICK;
        self.boosted = false;
        self.active = true;
    }

    /// Marks a vCPU woken from a block.
    pub fn wake(&mut self) {
        self.boosted = true;
        self.active = true;
    }
}

/// Hands one period's credit to the active accounts in proportion to their
/// weights, then clears the active marks for the next period.
pub fn distribute(accounts: &mut [&mut Account]) {
    let total_weight: u64 = accounts.iter().filter(|account| account.active).map(|account| account.weight as u64).sum();
    if total_weight == 0 {
        return;
    }
    let period_credit = CREDIT_PER_TICK as u64 * TICKS_PER_PERIOD;
    for account in accounts.iter_mut() {
        if account.active {
            let share = (period_credit * account.weight as u64).div_ceil(total_weight) as i64;
            account.credit = (account.credit + share).min(CREDIT_CAP);
        }
        account.active = false;
    }
}

/// Picks the next vCPU among `candidates` (id, account, runnable), in id
/// order: the best priority wins, and within it the first id after `current`.
pub fn pick(candidates: &[(u16, Account, bool)], current: u16) -> Option<u16> {
    pick_from(candidates.iter().copied(), current)
}

/// Does what [`pick`] does over any sequence in id order, so the scheduler
/// can pass its domain table without copying it into a vector. It reads the
/// sequence once, because it runs on every return to a guest.
pub fn pick_from(candidates: impl Iterator<Item = (u16, Account, bool)>, current: u16) -> Option<u16> {
    // The best priority seen so far, with its first id after `current` and
    // its first id at or before `current`.
    let mut best: Option<(Priority, Option<u16>, Option<u16>)> = None;
    for (id, account, runnable) in candidates {
        if !runnable {
            continue;
        }
        let priority = account.priority();
        if best.as_ref().is_none_or(|(best_priority, _, _)| priority < *best_priority) {
            best = Some((priority, None, None));
        }
        let Some((best_priority, after, before)) = &mut best else { continue };
        if *best_priority != priority {
            continue;
        }
        let slot = if id > current { after } else { before };
        slot.get_or_insert(id);
    }
    best.and_then(|(_, after, before)| after.or(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ticks` ticks of two always-runnable vCPUs; returns ticks each got.
    fn simulate(weights: [u16; 2], ticks: u64) -> [u64; 2] {
        let mut accounts = [Account { weight: weights[0], ..Default::default() }, Account { weight: weights[1], ..Default::default() }];
        let mut used = [0u64; 2];
        let mut current = 1u16;
        for tick in 0..ticks {
            let candidates = [(0u16, accounts[0], true), (1u16, accounts[1], true)];
            current = pick(&candidates, current).expect("a runnable vCPU");
            accounts[current as usize].charge_tick();
            used[current as usize] += 1;
            if (tick + 1) % TICKS_PER_PERIOD == 0 {
                let [first, second] = &mut accounts;
                distribute(&mut [first, second]);
            }
        }
        used
    }

    #[test]
    fn equal_weights_share_equally() {
        let [first, second] = simulate([256, 256], 3000);
        assert!(first.abs_diff(second) <= 30, "{first} vs {second}");
    }

    #[test]
    fn double_weight_gets_about_twice_the_cpu() {
        let [light, heavy] = simulate([256, 512], 3000);
        let ratio = heavy as f64 / light as f64;
        assert!((1.8..=2.2).contains(&ratio), "heavy {heavy}, light {light}, ratio {ratio}");
    }

    #[test]
    fn boosted_vcpu_runs_before_spinner() {
        let spinner = Account { credit: CREDIT_CAP, ..Default::default() };
        let mut woken = Account { credit: -500, ..Default::default() };
        woken.wake();
        let candidates = [(0u16, woken, true), (1u16, spinner, true)];
        assert_eq!(pick(&candidates, 0), Some(0));
        assert_eq!(woken.priority(), Priority::Boost);
        woken.charge_tick();
        assert_eq!(woken.priority(), Priority::Over);
    }

    #[test]
    fn blocked_vcpu_is_never_picked_and_earns_nothing() {
        let mut idle = Account::default();
        let mut busy = Account::default();
        busy.charge_tick();
        distribute(&mut [&mut idle, &mut busy]);
        assert_eq!(idle.credit, 0);
        assert!(busy.credit > 0);
        let candidates = [(0u16, idle, false), (1u16, busy, true)];
        assert_eq!(pick(&candidates, 1), Some(1));
        assert_eq!(pick(&[(0u16, idle, false)], 0), None);
    }

    #[test]
    fn yielded_vcpu_goes_last_once() {
        let mut yielding = Account { credit: CREDIT_CAP, ..Default::default() };
        yielding.yielded = true;
        let starved = Account { credit: -200, ..Default::default() };
        assert_eq!(pick(&[(0u16, yielding, true), (1u16, starved, true)], 0), Some(1));
        assert_eq!(pick(&[(0u16, yielding, true), (1u16, starved, false)], 0), Some(0));
    }

    /// Picks as the three-pass form that `pick_from` replaced did: the best
    /// priority, then its first id after `current`, then its first id at or
    /// before it.
    fn pick_reference(candidates: &[(u16, Account, bool)], current: u16) -> Option<u16> {
        let best = candidates.iter().filter(|(_, _, runnable)| *runnable).map(|(_, account, _)| account.priority()).min()?;
        let eligible = |candidate: &&(u16, Account, bool)| candidate.2 && candidate.1.priority() == best;
        let after = candidates.iter().filter(|(id, _, _)| *id > current).find(eligible);
        let before = candidates.iter().filter(|(id, _, _)| *id <= current).find(eligible);
        after.or(before).map(|(id, _, _)| *id)
    }

    #[test]
    fn pick_matches_reference_on_every_small_table() {
        // Each vCPU is blocked or runnable with one of four priorities.
        let accounts = [
            Account { yielded: true, ..Default::default() },
            Account { boosted: true, ..Default::default() },
            Account { credit: 100, ..Default::default() },
            Account { credit: -100, ..Default::default() },
        ];
        let ids = [0u16, 2, 5];
        let mut checked = 0;
        for code in 0..5u32.pow(3) {
            let candidates: Vec<(u16, Account, bool)> = ids
                .iter()
                .enumerate()
                .map(|(index, &id)| {
                    let state = (code / 5u32.pow(index as u32) % 5) as usize;
                    (id, accounts[state.min(3)], state < 4)
                })
                .collect();
            for current in 0..=6 {
                assert_eq!(pick(&candidates, current), pick_reference(&candidates, current), "{candidates:?}, current {current}");
                checked += 1;
            }
        }
        assert_eq!(checked, 125 * 7);
    }

    #[test]
    fn credit_is_capped() {
        let mut account = Account { credit: CREDIT_CAP, active: true, ..Default::default() };
        distribute(&mut [&mut account]);
        assert_eq!(account.credit, CREDIT_CAP);
    }
}
