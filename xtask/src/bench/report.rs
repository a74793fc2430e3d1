//! Benchmark results: parsing the guests' lines, statistics, the console
//! table, JSON, Markdown and the SVG chart.

use std::fmt::Write as _;

/// Results of one machine run: per benchmark, its unit and one value per round.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Series {
    entries: Vec<(String, String, Vec<u64>)>,
}

impl Series {
    /// Appends `value` to benchmark `name`.
    pub fn push(&mut self, name: &str, unit: &str, value: u64) {
        match self.entries.iter_mut().find(|(known, _, _)| known == name) {
            Some((_, _, values)) => values.push(value),
            None => self.entries.push((name.to_string(), unit.to_string(), vec![value])),
        }
    }

    /// Adds every `bench NAME UNIT VALUE` line of `output` except the echo
    /// of `command`, and returns how many it added.
    pub fn parse(&mut self, output: &str, command: &str) -> usize {
        let mut found = 0;
        for line in output.lines().map(str::trim) {
            if line == command {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["bench", name, unit, value] = words.as_slice()
                && let Ok(value) = value.parse::<u64>()
            {
                self.push(name, unit, value);
                found += 1;
            }
        }
        found
    }

    /// Returns the unit and values of `name`.
    pub fn get(&self, name: &str) -> Option<(&str, &[u64])> {
        self.entries
            .iter()
            .find(|(known, _, _)| known == name)
            .map(|(_, unit, values)| (unit.as_str(), values.as_slice()))
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _, _)| name.as_str())
    }
}

/// Returns the first line of `output` in which a guest reports a failed or
/// unknown benchmark.
pub fn problem_line(output: &str) -> Option<&str> {
    output
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("bench") && (line.contains(": failed") || line.contains("unknown benchmark")))
}

/// Median, minimum and maximum of a non-empty list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub median: u64,
    pub min: u64,
    pub max: u64,
}

impl Stats {
    /// Returns the statistics of `values`, or `None` for an empty list. The
    /// median of an even count is the lower middle value, so it is always a
    /// measured value.
    pub fn of(values: &[u64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Some(Stats { median: sorted[(sorted.len() - 1) / 2], min: sorted[0], max: sorted[sorted.len() - 1] })
    }
}

/// A target on an icount figure: the benchmark must stay below `limit`.
pub struct Target {
    pub name: &'static str,
    pub limit: u64,
}

/// The targets, on the icount medians.
pub const TARGETS: &[Target] = &[
    Target { name: "hypercall-domu", limit: 300 },
    Target { name: "evtchn-pingpong", limit: 3_000 },
    Target { name: "domain-switch-domu", limit: 1_500 },
    Target { name: "xl-create", limit: 5_000_000 },
];

/// Benchmarks that the product cannot run yet, with the reason.
pub const NOT_AVAILABLE: &[(&str, &str)] = &[("xvd", "not available: Hospes has no block devices yet")];

/// The results of both machine runs.
pub struct Results {
    pub tcg: Series,
    pub icount: Series,
}

/// One table row.
struct Row {
    name: String,
    unit: String,
    tcg: Option<Stats>,
    icount: Option<Stats>,
}

impl Results {
    pub fn new(tcg: Series, icount: Series) -> Results {
        Results { tcg, icount }
    }

    fn rows(&self) -> Vec<Row> {
        let mut names: Vec<&str> = self.tcg.names().collect();
        for name in self.icount.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
            .into_iter()
            .map(|name| {
                let tcg = self.tcg.get(name);
                let icount = self.icount.get(name);
                let unit = tcg.or(icount).map(|(unit, _)| unit).unwrap_or("");
                Row {
                    name: name.to_string(),
                    unit: unit.to_string(),
                    tcg: tcg.and_then(|(_, values)| Stats::of(values)),
                    icount: icount.and_then(|(_, values)| Stats::of(values)),
                }
            })
            .collect()
    }

    /// Returns the console table.
    pub fn table(&self) -> String {
        let mut text = format!("{:<22} {:<8} {:>28} {:>12}\n", "benchmark", "unit", "TCG median (min-max)", "icount");
        for row in self.rows() {
            let _ = writeln!(text, "{:<22} {:<8} {:>28} {:>12}", row.name, row.unit, tcg_cell(row.tcg), icount_cell(row.icount));
        }
        for (name, reason) in NOT_AVAILABLE {
            let _ = writeln!(text, "{name:<22} {reason}");
        }
        text.push_str(&self.target_lines());
        text
    }

    fn target_lines(&self) -> String {
        let mut text = String::new();
        for target in TARGETS {
            let line = match self.icount.get(target.name).and_then(|(_, values)| Stats::of(values)) {
                None => format!("target {} < {}: not measured", target.name, target.limit),
                Some(stats) if stats.median < target.limit => {
                    format!("target {} < {}: met ({})", target.name, target.limit, stats.median)
                }
                Some(stats) => format!(
                    "target {} < {}: MISSED ({}, {:.1}x the target)",
                    target.name,
                    target.limit,
                    stats.median,
                    stats.median as f64 / target.limit as f64
                ),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Returns the results as a JSON document.
    pub fn json(&self, machine: &str) -> String {
        let mut text = format!("{{\n  \"machine\": {},\n  \"benchmarks\": [\n", json_string(machine));
        let rows = self.rows();
        for (index, row) in rows.iter().enumerate() {
            let _ = write!(
                text,
                "    {{\"name\": {}, \"unit\": {}, \"tcg\": {}, \"icount\": {}}}",
                json_string(&row.name),
                json_string(&row.unit),
                json_stats(row.tcg, self.tcg.get(&row.name)),
                json_stats(row.icount, self.icount.get(&row.name)),
            );
            text.push_str(if index + 1 < rows.len() { ",\n" } else { "\n" });
        }
        text.push_str("  ],\n  \"not_available\": [\n");
        for (index, (name, reason)) in NOT_AVAILABLE.iter().enumerate() {
            let _ = write!(text, "    {{\"name\": {}, \"reason\": {}}}", json_string(name), json_string(reason));
            text.push_str(if index + 1 < NOT_AVAILABLE.len() { ",\n" } else { "\n" });
        }
        text.push_str("  ]\n}\n");
        text
    }

    /// Returns the results as a Markdown table with the target lines.
    pub fn markdown(&self, machine: &str) -> String {
        let mut text = format!("Machine: {machine}\n\n| benchmark | unit | TCG median (min–max) | icount |\n| --- | --- | ---: | ---: |\n");
        for row in self.rows() {
            let _ = writeln!(text, "| `{}` | {} | {} | {} |", row.name, row.unit, tcg_cell(row.tcg), icount_cell(row.icount));
        }
        for (name, reason) in NOT_AVAILABLE {
            let _ = writeln!(text, "| `{name}` | | {reason} | |");
        }
        text.push('\n');
        for line in self.target_lines().lines() {
            let _ = writeln!(text, "- {line}");
        }
        text
    }

    /// Returns an SVG bar chart of the icount medians in ticks, on a
    /// logarithmic axis because they span five orders of magnitude.
    pub fn svg(&self) -> Result<String, String> {
        use plotters::prelude::*;

        let bars: Vec<(String, u64)> = self
            .rows()
            .into_iter()
            .filter(|row| row.unit == "ticks")
            .filter_map(|row| Some((row.name, row.icount?.median.max(1))))
            .collect();
        let mut svg = String::new();
        {
            let height = 80 + 30 * bars.len().max(1) as u32;
            let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|error| format!("SVG chart: {error}"))?;
            let top = bars.iter().map(|(_, value)| *value).max().unwrap_or(10) * 4;
            let mut chart = ChartBuilder::on(&root)
                .caption("Hospes hot paths: instructions under QEMU -icount (median, log scale)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(170)
                .build_cartesian_2d((1u64..top).log_scale(), (0..bars.len().max(1)).into_segmented())
                .map_err(|error| format!("SVG chart: {error}"))?;
            let names: Vec<String> = bars.iter().map(|(name, _)| name.clone()).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_label_formatter(&|segment| match segment {
                    SegmentValue::CenterOf(index) => names.get(*index).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .x_desc("instructions")
                .draw()
                .map_err(|error| format!("SVG chart: {error}"))?;
            chart
                .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
                    Rectangle::new(
                        [(1, SegmentValue::Exact(index)), (*value, SegmentValue::Exact(index + 1))],
                        BLUE.mix(0.6).filled(),
                    )
                }))
                .map_err(|error| format!("SVG chart: {error}"))?;
            root.present().map_err(|error| format!("SVG chart: {error}"))?;
        }
        Ok(svg)
    }
}

fn tcg_cell(stats: Option<Stats>) -> String {
    match stats {
        Some(stats) => format!("{} ({}–{})", stats.median, stats.min, stats.max),
        None => String::from("—"),
    }
}

fn icount_cell(stats: Option<Stats>) -> String {
    stats.map_or_else(|| String::from("—"), |stats| stats.median.to_string())
}

fn json_stats(stats: Option<Stats>, values: Option<(&str, &[u64])>) -> String {
    match (stats, values) {
        (Some(stats), Some((_, values))) => {
            let list: Vec<String> = values.iter().map(u64::to_string).collect();
            format!(
                "{{\"median\": {}, \"min\": {}, \"max\": {}, \"values\": [{}]}}",
                stats.median,
                stats.min,
                stats.max,
                list.join(", ")
            )
        }
        _ => String::from("null"),
    }
}

fn json_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Returns the differences between two icount runs larger than `tolerance`
/// (relative), per benchmark median, and benchmarks only one run has.
pub fn compare_icount(first: &Series, second: &Series, tolerance: f64) -> Vec<String> {
    let mut failures = Vec::new();
    for name in first.names() {
        let medians = (
            first.get(name).and_then(|(_, values)| Stats::of(values)),
            second.get(name).and_then(|(_, values)| Stats::of(values)),
        );
        match medians {
            (Some(a), Some(b)) => {
                let difference = a.median.abs_diff(b.median) as f64 / a.median.max(1) as f64;
                if difference > tolerance {
                    failures.push(format!(
                        "{name}: icount medians {} and {} differ by {:.1} % (tolerance {:.1} %)",
                        a.median,
                        b.median,
                        difference * 100.0,
                        tolerance * 100.0
                    ));
                }
            }
            _ => failures.push(format!("{name}: only one icount run reported it")),
        }
    }
    failures
}

/// Returns the benchmarks of either run with a zero value.
pub fn check_plausible(tcg: &Series, icount: &Series) -> Vec<String> {
    let mut failures = Vec::new();
    for (mode, series) in [("tcg", tcg), ("icount", icount)] {
        for name in series.names() {
            if let Some((unit, values)) = series.get(name)
                && values.iter().any(|&value| value == 0)
            {
                failures.push(format!("{name} ({mode}): a round reported 0 {unit}"));
            }
        }
    }
    failures
}

/// Returns the benchmarks of `expected` that one of `runs` did not report,
/// so a step that prints only some of its results fails.
pub fn check_complete(expected: &[&str], runs: &[(&str, &Series)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (mode, series) in runs {
        for name in expected {
            if series.get(name).is_none() {
                failures.push(format!("{name} ({mode}): no result"));
            }
        }
    }
    failures
}

/// Returns the host's CPU model, core count and QEMU version, for the record.
pub fn machine_description(qemu: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let cores = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(0);
    let version = std::process::Command::new(qemu)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| String::from("unknown QEMU"));
    format!("{cpu}, {cores} host threads; {version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_echo_and_prose() {
        let output = "bench domu /etc/xen/bench/hypercall.cfg 5\r\n\
                      Hospes DomU bench-hypercall (domain 1) ready\r\n\
                      bench hypercall-domu ticks 250\r\n\
                      bench hypercall-domu ticks 260\r\n\
                      bench scale: creation stopped: out of memory\r\n\
                      bench done\r\n";
        let mut series = Series::default();
        assert_eq!(series.parse(output, "bench domu /etc/xen/bench/hypercall.cfg 5"), 2);
        assert_eq!(series.get("hypercall-domu"), Some(("ticks", &[250, 260][..])));
    }

    #[test]
    fn stats_take_lower_median() {
        assert_eq!(Stats::of(&[5, 1, 3]), Some(Stats { median: 3, min: 1, max: 5 }));
        assert_eq!(Stats::of(&[4, 2]), Some(Stats { median: 2, min: 2, max: 4 }));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn problem_line_finds_failures() {
        assert_eq!(problem_line("bench mmu1: failed: mmu_update failed\r\n"), Some("bench mmu1: failed: mmu_update failed"));
        assert_eq!(problem_line("bench x: unknown benchmark"), Some("bench x: unknown benchmark"));
        assert_eq!(problem_line("bench hypercall-domu ticks 3"), None);
    }

    #[test]
    fn compare_icount_applies_tolerance() {
        let mut first = Series::default();
        let mut second = Series::default();
        first.push("a", "ticks", 1000);
        second.push("a", "ticks", 1010);
        first.push("b", "ticks", 1000);
        second.push("b", "ticks", 1100);
        first.push("c", "ticks", 7);
        let failures = compare_icount(&first, &second, 0.02);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("b: icount medians 1000 and 1100"), "{failures:?}");
        assert!(failures[1].starts_with("c: only one"), "{failures:?}");
    }

    #[test]
    fn zero_values_are_implausible() {
        let mut series = Series::default();
        series.push("a", "ticks", 0);
        assert_eq!(check_plausible(&series, &Series::default()).len(), 1);
    }

    #[test]
    fn missing_results_are_reported() {
        let mut tcg = Series::default();
        tcg.push("a", "ticks", 5);
        tcg.push("b", "ticks", 7);
        let mut icount = Series::default();
        icount.push("a", "ticks", 6);
        let failures = check_complete(&["a", "b", "c"], &[("tcg", &tcg), ("icount", &icount)]);
        assert_eq!(failures, ["c (tcg): no result", "b (icount): no result", "c (icount): no result"]);
    }

    #[test]
    fn outputs_name_every_benchmark() {
        let mut tcg = Series::default();
        tcg.push("hypercall-domu", "ticks", 900);
        tcg.push("boot-direct", "ms", 2000);
        let mut icount = Series::default();
        icount.push("hypercall-domu", "ticks", 250);
        let results = Results::new(tcg, icount);
        let table = results.table();
        assert!(table.contains("hypercall-domu"), "{table}");
        assert!(table.contains("900 (900–900)"), "{table}");
        assert!(table.contains("target hypercall-domu < 300: met (250)"), "{table}");
        let json = results.json("test machine");
        assert!(json.contains("\"name\": \"boot-direct\", \"unit\": \"ms\""), "{json}");
        assert!(json.contains("\"icount\": null"), "{json}");
        let svg = results.svg().expect("chart");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("hypercall-domu"), "{svg}");
    }
}
