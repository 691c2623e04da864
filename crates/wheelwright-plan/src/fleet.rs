//! `plan --matrix --fleet N`: what a publish matrix costs on N runners of
//! one kind, when cells that differ only in the Python version share their
//! kernels through the compile cache.
//!
//! Each cell is planned for the runner (`--cpus`, `--memory`, and the cell's
//! own CUDA, torch and C++ ABI) with the matrix's archs: its time alone is
//! the plan's ninja phase, longest first as `wheelwright build` runs it.
//! Cells with the same torch, toolkit, ABI and archs compile the same `.cu`
//! files with the same flags: a flash-attn kernel file includes torch's
//! headers and not Python's (its preprocessed text names no Python header),
//! so with the cache set up as `build --sccache` does
//! (`bench/fleet-cache/README.md`: same work-dir path, `SCCACHE_BASEDIRS`,
//! torch's header mtimes) only the first cell of such a group compiles them.
//! The others compile the units that include Python (flash-attn's
//! `flash_api.cpp`; a torch extension's `.cpp` files) and read every other
//! object from the cache, [`HIT_SECONDS`] each.
//!
//! Runners take the cells in the order given as they free up (GitHub starts
//! queued matrix jobs in order); [`Fleet::order`] puts each group's first
//! cell first, so a follower starts once some runner is free, normally
//! after its group's first cell. A follower that starts before its group's
//! first cell has finished compiles everything itself (sccache does not
//! share compiles in flight), and the schedule counts it so.
//!
//! Not counted: setting a runner up (checkout, Python, torch), the link and
//! the wheel, uploads, queueing for runners.

use serde::{Deserialize, Serialize};

use super::cost::{CostModel, JobCost};
use super::hypothetical::HostSpec;
use super::matrix::{Matrix, MatrixCell};
use super::recipe::{self, Recipe, TranslationUnit};
use super::simulate::{simulate, Order};
use super::{plan, PlanError, PlanRequest};

/// Seconds a compile served from the cache takes: sccache's client run,
/// the lookup, the read and the object's write. Measured on the H200 box:
/// 8 flash-attn objects from a warm local cache summed to 38.3 s of ninja
/// edges (`bench/results/h200-sccache-subset`, warm run).
pub const HIT_SECONDS: f64 = 38.3 / 8.0;

/// What to price.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRequest {
    /// How many runners.
    pub runners: u32,
    /// The runner kind: CPUs and memory (the cell gives CUDA, torch, ABI).
    pub host: HostSpec,
    /// A fixed MAX_JOBS for every cell (else each cell's plan).
    pub max_jobs: Option<u32>,
    /// A fixed NVCC_THREADS for every cell (else each cell's plan).
    pub nvcc_threads: Option<u32>,
    /// Cells share kernels through the cache.
    pub share: bool,
}

/// One cell as the fleet runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FleetCell {
    /// The matrix cell's name.
    pub name: String,
    /// Its group: cells with the same torch, toolkit, ABI and archs.
    pub group: String,
    /// The group's first cell, which compiles the kernels.
    pub first_of_group: bool,
    /// MAX_JOBS and NVCC_THREADS of its plan.
    pub max_jobs: u32,
    /// NVCC_THREADS of its plan.
    pub nvcc_threads: u32,
    /// Compiling every unit (the plan's prediction).
    pub compile_all_seconds: f64,
    /// As scheduled: all units, or the Python ones and cache reads.
    pub seconds: f64,
    /// It read its group's kernels from the cache.
    pub from_cache: bool,
    /// Which runner (0-based) and when.
    pub runner: u32,
    /// Start, from the matrix's start.
    pub start_seconds: f64,
    /// End.
    pub end_seconds: f64,
    /// The plan's peak.
    pub peak_memory_bytes: u64,
}

/// The matrix on the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fleet {
    /// Runners.
    pub runners: u32,
    /// Their CPUs.
    pub runner_cpus: u32,
    /// Their memory.
    pub runner_memory_bytes: u64,
    /// Cells in the order to start them, with their schedule.
    pub cells: Vec<FleetCell>,
    /// How many groups of cells share kernels.
    pub groups: u32,
    /// When the last cell ends.
    pub makespan_seconds: f64,
    /// The same fleet with no sharing (every cell compiles everything).
    pub makespan_without_sharing_seconds: f64,
    /// The longest single cell.
    pub longest_cell_seconds: f64,
    /// Seconds per object read from the cache ([`HIT_SECONDS`]).
    pub hit_seconds: f64,
}

/// The group key of a cell: what its kernels depend on.
fn group_of(cell: &MatrixCell) -> String {
    format!(
        "torch {} ({}) cuda {} abi {} archs {}",
        cell.torch_version, cell.torch_cuda, cell.cuda, cell.cxx11_abi, cell.archs
    )
}

/// A unit whose object depends on the Python version: it includes Python's
/// headers (flash-attn's `flash_api.cpp`, a torch extension's bindings).
/// `.cu` kernel files do not.
fn includes_python(unit: &TranslationUnit) -> bool {
    !unit.is_cuda()
}

/// Price `matrix` on the fleet; see the module docs.
pub fn fleet(matrix: &Matrix, recipe: &Recipe, req: &FleetRequest) -> Result<Fleet, PlanError> {
    let units = recipe::resolve_units(recipe, None)?.units;
    let mut priced: Vec<Row> = Vec::new();
    let mut cache: Vec<(String, Priced)> = Vec::new();
    for cell in &matrix.include {
        let group = group_of(cell);
        let p = match cache.iter().find(|(g, _)| *g == group) {
            Some((_, p)) => p.clone(),
            None => {
                let p = price(cell, recipe, &units, req)?;
                cache.push((group.clone(), p.clone()));
                p
            }
        };
        priced.push((cell.clone(), group, p));
    }
    // Each group's first cell first (in the matrix's order of groups), then
    // the followers, one of each group per round.
    let mut order: Vec<usize> = Vec::new();
    let groups: Vec<String> = cache.iter().map(|(g, _)| g.clone()).collect();
    let mut rank = vec![0usize; priced.len()];
    for g in &groups {
        for (n, i) in (0..priced.len()).filter(|i| &priced[*i].1 == g).enumerate() {
            rank[i] = n;
        }
    }
    let rounds = rank.iter().copied().max().unwrap_or(0);
    for r in 0..=rounds {
        for g in &groups {
            order.extend((0..priced.len()).filter(|i| &priced[*i].1 == g && rank[*i] == r));
        }
    }
    let cpus = req.host.cpus.unwrap_or(16);
    let memory = req.host.memory_bytes.unwrap_or(64 << 30);
    let cells = schedule(&priced, &order, &rank, req.runners, req.share);
    let without = schedule(&priced, &order, &rank, req.runners, false);
    let makespan = |c: &[FleetCell]| c.iter().map(|c| c.end_seconds).fold(0.0, f64::max);
    Ok(Fleet {
        runners: req.runners,
        runner_cpus: cpus,
        runner_memory_bytes: memory,
        groups: groups.len() as u32,
        makespan_seconds: makespan(&cells),
        makespan_without_sharing_seconds: makespan(&without),
        longest_cell_seconds: cells
            .iter()
            .map(|c| c.compile_all_seconds)
            .fold(0.0, f64::max),
        hit_seconds: HIT_SECONDS,
        cells,
    })
}

/// A cell, its group and its group's prices.
type Row = (MatrixCell, String, Priced);

/// One group's prices.
#[derive(Debug, Clone)]
struct Priced {
    jobs: u32,
    threads: u32,
    all: f64,
    from_cache: f64,
    peak: u64,
}

fn price(
    cell: &MatrixCell,
    recipe: &Recipe,
    units: &[TranslationUnit],
    req: &FleetRequest,
) -> Result<Priced, PlanError> {
    let host = HostSpec {
        cuda: Some(cell.cuda.clone()),
        torch: Some(cell.torch.clone()),
        torch_cuda: Some(cell.torch_cuda.clone()),
        cxx11_abi: Some(cell.cxx11_abi == "TRUE"),
        ..req.host.clone()
    };
    let (facts, _assumed) = host.hypothetical_facts()?;
    let preq = PlanRequest {
        archs: Some(cell.archs.split(';').map(String::from).collect()),
        max_jobs: req.max_jobs,
        nvcc_threads: req.nvcc_threads,
        ..PlanRequest::default()
    };
    let p = plan(recipe, &facts, &preq)?;
    let model = CostModel::measured().with_gencodes(&p.gencode_flags);
    let mut jobs: Vec<JobCost> = units
        .iter()
        .filter(|u| includes_python(u))
        .map(|u| model.job(u, p.gencodes, p.nvcc_threads))
        .collect();
    let hits = units.iter().filter(|u| !includes_python(u)).count();
    jobs.extend((0..hits).map(|i| JobCost {
        name: format!("cache hit {i}"),
        alone_seconds: HIT_SECONDS,
        peak_bytes: 64 << 20,
        cpu_demand: 1.0,
    }));
    let warm = simulate(&model, &jobs, p.max_jobs, p.cpus, Order::LongestFirst);
    Ok(Priced {
        jobs: p.max_jobs,
        threads: p.nvcc_threads,
        all: p.predicted_longest_first.wall_seconds,
        from_cache: warm.wall_seconds,
        peak: p.predicted_longest_first.peak_memory_bytes,
    })
}

/// List-schedule the cells in `order` on `runners`: each starts on the
/// runner that frees first; a follower reads its group's kernels from the
/// cache when `share` and its group's first cell has ended by its start.
fn schedule(
    priced: &[Row],
    order: &[usize],
    rank: &[usize],
    runners: u32,
    share: bool,
) -> Vec<FleetCell> {
    let mut free = vec![0.0_f64; runners.max(1) as usize];
    let mut first_end: Vec<(String, f64)> = Vec::new();
    let mut out = Vec::new();
    for &i in order {
        let (cell, group, p) = &priced[i];
        let (runner, start) = free
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one runner");
        let leader_done = first_end
            .iter()
            .find(|(g, _)| g == group)
            .is_some_and(|(_, end)| *end <= start);
        let from_cache = share && rank[i] > 0 && leader_done;
        let seconds = if from_cache { p.from_cache } else { p.all };
        let end = start + seconds;
        free[runner] = end;
        if rank[i] == 0 {
            first_end.push((group.clone(), end));
        }
        out.push(FleetCell {
            name: cell.name.clone(),
            group: group.clone(),
            first_of_group: rank[i] == 0,
            max_jobs: p.jobs,
            nvcc_threads: p.threads,
            compile_all_seconds: p.all,
            seconds,
            from_cache,
            runner: runner as u32,
            start_seconds: start,
            end_seconds: end,
            peak_memory_bytes: p.peak,
        });
    }
    out
}

impl Fleet {
    /// The cell names in the order to start them.
    pub fn order(&self) -> Vec<String> {
        self.cells.iter().map(|c| c.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{build_matrix, MatrixRequest};
    use wheelwright_base::units::GIB;

    fn cell(name: &str, torch: &str) -> MatrixCell {
        MatrixCell {
            name: name.into(),
            python: "3.12".into(),
            torch: torch.into(),
            torch_version: format!("{torch}.0"),
            torch_cuda: "12.8".into(),
            torch_index_url: String::new(),
            cuda: "12.8".into(),
            cxx11_abi: "TRUE".into(),
            archs: "80;90".into(),
            variant: String::new(),
            wheel: format!("{name}.whl"),
            runs_on: Vec::new(),
        }
    }

    fn priced(all: f64, from_cache: f64) -> Priced {
        Priced {
            jobs: 4,
            threads: 1,
            all,
            from_cache,
            peak: GIB,
        }
    }

    /// Group a (100 s, 10 s from the cache): a1, a2, a3; group b (50 s,
    /// 5 s): b1, b2; in the order `fleet` starts them (leaders first, then
    /// one follower of each group per round).
    fn two_groups() -> (Vec<Row>, Vec<usize>, Vec<usize>) {
        let p = vec![
            (cell("a1", "2.8"), "a".to_string(), priced(100.0, 10.0)),
            (cell("a2", "2.8"), "a".to_string(), priced(100.0, 10.0)),
            (cell("a3", "2.8"), "a".to_string(), priced(100.0, 10.0)),
            (cell("b1", "2.9"), "b".to_string(), priced(50.0, 5.0)),
            (cell("b2", "2.9"), "b".to_string(), priced(50.0, 5.0)),
        ];
        (p, vec![0, 3, 1, 4, 2], vec![0, 1, 2, 0, 1])
    }

    fn spans(cells: &[FleetCell]) -> Vec<(&str, u32, f64, f64, bool)> {
        cells
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.runner,
                    c.start_seconds,
                    c.end_seconds,
                    c.from_cache,
                )
            })
            .collect()
    }

    #[test]
    fn a_follower_reads_the_cache_only_once_its_leader_has_ended() {
        let (p, order, rank) = two_groups();
        // Two runners: a2 starts at 50 s, when b1 frees runner 1, before a1
        // ends (100 s): it compiles everything. b2 and a3 start after their
        // leaders ended: from the cache.
        let shared = schedule(&p, &order, &rank, 2, true);
        assert_eq!(
            spans(&shared),
            [
                ("a1", 0, 0.0, 100.0, false),
                ("b1", 1, 0.0, 50.0, false),
                ("a2", 1, 50.0, 150.0, false),
                ("b2", 0, 100.0, 105.0, true),
                ("a3", 0, 105.0, 115.0, true),
            ]
        );
        // No sharing: every cell compiles everything; 350 s of work on two
        // runners, a3 last on the runner that frees first (the lower on a tie).
        let alone = schedule(&p, &order, &rank, 2, false);
        assert_eq!(
            spans(&alone),
            [
                ("a1", 0, 0.0, 100.0, false),
                ("b1", 1, 0.0, 50.0, false),
                ("a2", 1, 50.0, 150.0, false),
                ("b2", 0, 100.0, 150.0, false),
                ("a3", 0, 150.0, 250.0, false),
            ]
        );
        // One runner: every follower starts after its leader.
        let one = schedule(&p, &order, &rank, 1, true);
        assert_eq!(
            one.last().unwrap().end_seconds,
            100.0 + 50.0 + 10.0 + 5.0 + 10.0
        );
        assert!(one
            .iter()
            .filter(|c| !c.first_of_group)
            .all(|c| c.from_cache));
    }

    #[test]
    fn flash_attns_matrix_on_eight_runners() {
        let matrix = build_matrix(&MatrixRequest::default()).unwrap();
        let req = FleetRequest {
            runners: 8,
            host: HostSpec {
                cpus: Some(16),
                memory_bytes: Some(125 * GIB),
                ..HostSpec::default()
            },
            max_jobs: None,
            nvcc_threads: None,
            share: true,
        };
        let f = fleet(&matrix, &Recipe::flash_attn("2.8.3"), &req).unwrap();
        assert_eq!(f.cells.len(), matrix.include.len());
        // Every cell once; each group has one leader, and it starts before
        // the group's followers.
        let mut names = f.order();
        names.sort();
        let mut want: Vec<String> = matrix.include.iter().map(|c| c.name.clone()).collect();
        want.sort();
        assert_eq!(names, want);
        let groups: std::collections::BTreeSet<&str> =
            f.cells.iter().map(|c| c.group.as_str()).collect();
        assert_eq!(f.groups as usize, groups.len());
        for g in &groups {
            let of: Vec<&FleetCell> = f.cells.iter().filter(|c| c.group == *g).collect();
            assert_eq!(of.iter().filter(|c| c.first_of_group).count(), 1, "{g}");
            let leader = of.iter().find(|c| c.first_of_group).unwrap();
            assert!(of.iter().all(|c| c.start_seconds >= leader.start_seconds));
            // A follower from the cache started after its leader ended and
            // takes less than compiling everything.
            for c in of.iter().filter(|c| c.from_cache) {
                assert!(c.start_seconds >= leader.end_seconds, "{}", c.name);
                assert!(c.seconds < c.compile_all_seconds, "{}", c.name);
            }
        }
        // A runner runs one cell at a time; the makespan is the last end.
        for r in 0..8 {
            let mut on: Vec<&FleetCell> = f.cells.iter().filter(|c| c.runner == r).collect();
            on.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
            assert!(on
                .windows(2)
                .all(|w| w[0].end_seconds <= w[1].start_seconds + 1e-9));
        }
        let last = f.cells.iter().map(|c| c.end_seconds).fold(0.0, f64::max);
        assert_eq!(f.makespan_seconds, last);
        // Sharing never makes it later, and with more cells than groups some
        // follower reads the cache.
        assert!(f.makespan_seconds <= f.makespan_without_sharing_seconds);
        if f.cells.len() > groups.len() {
            assert!(f.cells.iter().any(|c| c.from_cache));
        }
        // Every cell fits the runner's memory.
        assert!(f.cells.iter().all(|c| c.peak_memory_bytes <= 125 * GIB));
    }
}
