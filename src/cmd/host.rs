//! `--calibrate REPORT` for `plan` and `doctor`: the library's reading of an
//! earlier build (this host's speed, each unit's measured cost), as a usage
//! error with its hint.

use std::path::Path;

use wheelwright_core::plan::{HostCosts, SpeedCalibration};

/// `--calibrate` for a plan of `source`: the speed factor and, when the
/// report built the same source, each unit's measured cost.
pub fn calibration_from(
    report: &Path,
    source: Option<&Path>,
) -> anyhow::Result<(Option<SpeedCalibration>, Option<HostCosts>)> {
    wheelwright_core::job::calibration_from_report(report, source).map_err(|e| {
        let hint = e.hint();
        crate::exit::usage(e.to_string(), hint)
    })
}
