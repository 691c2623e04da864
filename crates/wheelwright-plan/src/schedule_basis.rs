//! A build's simulated schedule: what it depends on besides MAX_JOBS and
//! NVCC_THREADS ([`ScheduleBasis`]), kept by a build so that each attempt
//! gets the schedule of its own setting for its ETA.

use super::search::{self, Space};
use super::{recipe, simulate, CostModel, Order, Plan, PlanError, PlanRequest, Recipe};
use wheelwright_base::env_vars;

/// The simulated schedule of `plan` (its jobs, threads, gencodes and CPUs):
/// every unit's start and end in ninja's order, to compare with a real
/// `.ninja_log`.
pub fn schedule(
    recipe: &Recipe,
    req: &PlanRequest,
    plan: &Plan,
) -> Result<Vec<simulate::SimulatedJob>, PlanError> {
    let basis = ScheduleBasis::resolve(recipe, req, plan)?;
    Ok(basis.schedule(plan.max_jobs, plan.nvcc_threads, &[]))
}

/// What a build's simulated schedule depends on besides MAX_JOBS and
/// NVCC_THREADS: the plan's units, gencodes and CPUs. A build keeps it so that
/// each attempt gets the schedule of its own setting (after an OOM kill: fewer
/// jobs, and only the objects not built yet), for its ETA.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleBasis {
    /// In ninja's order.
    pub units: Vec<recipe::TranslationUnit>,
    /// Gencodes per nvcc compile.
    pub gencodes: u32,
    /// CPUs of the host.
    pub cpus: u32,
    /// The build passes NVCC_THREADS to nvcc (else every compile runs with 1).
    pub threads_honoured: bool,
    /// The plan's host-speed factor (1.0 uncalibrated).
    pub speed: f64,
    /// The order the build starts the units in: [`Order::LongestFirst`] when
    /// the runner reorders ninja's manifest (wheelwright-build's `ninja_order`).
    pub order: Order,
}

impl ScheduleBasis {
    /// The units of `recipe` (read from `req.source` when given) with `plan`'s
    /// gencodes and CPUs.
    pub fn resolve(recipe: &Recipe, req: &PlanRequest, plan: &Plan) -> Result<Self, PlanError> {
        // The plan's environment holds the switches it planned with.
        let su = recipe::resolve_units_with(
            recipe,
            req.source.as_deref(),
            recipe::UnitContext {
                env: Some(&plan.env),
                torch_version: None,
                probe: None,
            },
        )?;
        Ok(ScheduleBasis {
            units: su.units,
            gencodes: plan.gencodes.max(1),
            cpus: plan.cpus,
            threads_honoured: plan.env.contains_key(env_vars::NVCC_THREADS),
            speed: plan.speed.as_ref().map_or(1.0, |c| c.factor),
            order: Order::LongestFirst,
        })
    }

    /// The units' source paths, longest compile first by the cost model at
    /// `threads` (ties keep ninja's order): the ranking the runner hands to
    /// ninja (wheelwright-build's `ninja_order`).
    pub fn longest_first_sources(&self, threads: u32) -> Vec<String> {
        let model = CostModel::measured().with_speed(self.speed);
        let threads = if self.threads_honoured { threads } else { 1 };
        let costs = search::jobs_for(&model, &self.units, self.gencodes, threads);
        let mut ranked: Vec<(usize, f64)> =
            costs.iter().map(|c| c.alone_seconds).enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .into_iter()
            .map(|(i, _)| self.units[i].path.clone())
            .collect()
    }

    /// The units whose object is not among `built` (see [`ScheduleBasis::schedule`]).
    pub fn remaining(&self, built: &[String]) -> Vec<recipe::TranslationUnit> {
        self.units
            .iter()
            .filter(|u| !built.iter().any(|b| is_object_of(b, u)))
            .cloned()
            .collect()
    }

    /// The planner's MAX_JOBS for the units not in `built` at a fixed
    /// `threads`, under `ceiling` (after the margin): the fastest setting whose
    /// simulated peak fits, 1 when none does; `None` when nothing is left.
    pub fn jobs_under(&self, threads: u32, built: &[String], ceiling: u64) -> Option<u32> {
        let units = self.remaining(built);
        if units.is_empty() {
            return None;
        }
        let model = CostModel::measured().with_speed(self.speed);
        let threads = if self.threads_honoured { threads } else { 1 };
        let choice = search::choose(
            &model,
            &units,
            Space {
                gencodes: self.gencodes,
                cpus: self.cpus,
                ceiling,
                fixed_jobs: None,
                fixed_threads: Some(threads),
                max_threads: threads,
                serial: false,
            },
        );
        Some(if choice.fits { choice.best.jobs } else { 1 })
    }

    /// The simulated peak (both orders) of the units not in `built` with
    /// `jobs` and `threads`.
    pub fn peak_of(&self, jobs: u32, threads: u32, built: &[String]) -> u64 {
        let model = CostModel::measured().with_speed(self.speed);
        let threads = if self.threads_honoured { threads } else { 1 };
        search::evaluate(
            &model,
            &self.remaining(built),
            self.gencodes,
            jobs,
            threads,
            self.cpus,
        )
        .peak()
    }

    /// The schedule in the build's order with `jobs` and `threads`, of the units
    /// whose object is not among `built` (object paths as the build wrote
    /// them: absolute, or relative to any folder above the unit's own path).
    pub fn schedule(
        &self,
        jobs: u32,
        threads: u32,
        built: &[String],
    ) -> Vec<simulate::SimulatedJob> {
        let model = CostModel::measured().with_speed(self.speed);
        let threads = if self.threads_honoured { threads } else { 1 };
        let units = self.remaining(built);
        let costs = search::jobs_for(&model, &units, self.gencodes, threads);
        simulate(&model, &costs, jobs, self.cpus, self.order).jobs
    }
}

/// `/tmp/x/build/temp.linux-x86_64-cpython-312/csrc/a.o` is the object of `csrc/a.cu`.
pub(crate) fn is_object_of(output: &str, unit: &recipe::TranslationUnit) -> bool {
    let object = unit.object_path();
    output == object
        || output
            .strip_suffix(object.as_str())
            .is_some_and(|head| head.ends_with('/'))
}
