//! Build planning: recipes, the measured cost model, the schedule simulator and preflight checks.
