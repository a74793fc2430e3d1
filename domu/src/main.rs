//! DomU: a small unprivileged guest kernel, running in ring 1.
//!
//! It attaches to the console ring that `start_info` names, or writes
//! through `console_io` when it has none (as when it is booted in place of
//! Dom0 for testing). It reports its boot stages and then readiness on the
//! console (see `guest::boot_status`), runs the hostile-case suite that a
//! `selftest=NAME` word on its command line names (see `domu::selftest`),
//! and runs the shell on console input.
//! With no input it blocks in the hypervisor until the console's event
//! channel wakes it.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod grant_pages;
#[cfg(target_os = "none")]
mod pair_bench;
#[cfg(target_os = "none")]
mod platform;

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
fn guest_main() -> ! {
    use core::fmt::Write;
    use dom0::line::Output;
    use domu::terminal::Text;
    use guest::boot_status::{READY, Stage};

    let mut platform = platform::HypercallPlatform::attach();
    platform.write(Stage::Runtime.report());

    if let Err(problem) = platform.enable_input_events() {
        let _ = writeln!(
            Text(&mut platform),
            "domu: {problem}; console input is polled"
        );
    }
    platform.write(Stage::Console.report());

    let info = guest::start_info();
    let parsed = domu::Identity::parse(info.command_line());
    for warning in &parsed.warnings {
        let _ = writeln!(Text(&mut platform), "domu: {warning}");
    }
    let mut shell = domu::Shell::new(parsed.identity, info.nr_pages);
    platform.write(Stage::Shell.report());

    let identity = shell.identity();
    let _ = writeln!(
        Text(&mut platform),
        "Hospes DomU {} (domain {}) ready, running in ring {}",
        identity.name,
        identity.domid_text(),
        guest::current_ring()
    );
    platform.write(READY);

    if let Some(suite) = domu::selftest::requested_suite(info.command_line()) {
        run_selftest(&suite, &mut platform);
    }
    match guest::bench::option(info.command_line(), "bench") {
        Some("peer") => {
            if let Err(error) = platform.serve_as_peer() {
                let _ = writeln!(Text(&mut platform), "bench peer: grant requests are not served: {error}");
            }
        }
        Some(name) => run_bench(name, info.command_line(), &mut platform),
        None => {}
    }

    shell.start(&mut platform);
    let mut buffer = [0u8; 64];
    loop {
        let count = platform.wait_for_input(&mut buffer);
        for &byte in &buffer[..count] {
            shell.feed(byte, &mut platform);
        }
    }
}

/// Runs the hostile-case suite `name` and prints a line per case and the
/// final XTF result line.
#[cfg(target_os = "none")]
fn run_selftest(name: &str, platform: &mut platform::HypercallPlatform) {
    use core::fmt::Write;
    use domu::selftest::{UNKNOWN_SUITE_RESULT, case_line, result_line};
    use domu::terminal::Text;

    let Some(suite) = guest::attack::Suite::for_domu(name) else {
        let _ = writeln!(
            Text(platform),
            "selftest: unknown suite '{name}'; the suites are {}",
            guest::attack::DOMU_SUITES.join(", ")
        );
        let _ = writeln!(Text(platform), "{UNKNOWN_SUITE_RESULT}");
        return;
    };
    let _ = writeln!(Text(platform), "selftest {name}: running {} cases", suite.len());
    let mut failed = 0;
    for index in 0..suite.len() {
        let report = suite.run(index);
        failed += usize::from(report.result.is_err());
        let _ = writeln!(Text(platform), "{}", case_line(report.id, &report.name, &report.result));
    }
    let _ = writeln!(Text(platform), "selftest {name}: {} passed, {failed} failed", suite.len() - failed);
    let _ = writeln!(Text(platform), "{}", result_line(failed));
}

/// Runs the benchmark `name` from a `bench=NAME` word (with `rounds=N`),
/// prints its result lines and powers the domain off, so `xl create -c`
/// returns to Dom0's prompt. `bench=yield` yields forever instead, as the
/// partner of the `switch` benchmark. `bench=pair` runs the interdomain
/// benchmarks against the `bench=peer` domain that `peer=ID` names.
#[cfg(target_os = "none")]
fn run_bench(name: &str, command_line: &[u8], platform: &mut platform::HypercallPlatform) {
    use core::fmt::Write;
    use domu::terminal::Text;
    use guest::bench::{Benchmark, DEFAULT_ROUNDS, DONE};

    if name == "yield" {
        guest::bench::spin_yield();
    }
    let rounds = guest::bench::option(command_line, "rounds")
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let mut emit = |text: &str| {
        let _ = writeln!(Text(&mut *platform), "{text}");
    };
    let result = match (name, Benchmark::parse(name)) {
        ("pair", _) => Some(run_pair(command_line, rounds, &mut emit)),
        (_, Some(benchmark)) => Some(benchmark.run("domu", rounds, &mut emit)),
        (_, None) => None,
    };
    match result {
        Some(Ok(())) => {}
        Some(Err(error)) => {
            let _ = writeln!(Text(platform), "bench {name}: failed: {error}");
        }
        None => {
            let _ = writeln!(Text(platform), "bench {name}: unknown benchmark");
        }
    }
    let _ = writeln!(Text(platform), "{DONE}");
    // NOTE: under -icount Dom0 once destroyed a benchmark DomU before it
    // drained the console ring, losing every line. Yielding first gives Dom0
    // the CPU to drain it; the root cause in the toolstack is not found yet.
    for _ in 0..1000 {
        guest::hypercall::yield_now();
    }
    let _ = guest::hypercall::shutdown(hypercalls::sched::ShutdownReason::Poweroff);
}

/// Runs the `bench=pair` benchmarks against the domain that `peer=ID` names.
#[cfg(target_os = "none")]
fn run_pair(command_line: &[u8], rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), alloc::string::String> {
    let own = domu::Identity::parse(command_line)
        .identity
        .domid
        .ok_or_else(|| alloc::string::String::from("no domid= on the command line"))?;
    let peer = domu::bench_peer::parse_peer(command_line, own)?;
    pair_bench::run(own, peer, rounds, emit)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("domu is a guest kernel for the Hospes hypervisor; the Dom0 toolstack boots it");
    std::process::exit(2);
}
