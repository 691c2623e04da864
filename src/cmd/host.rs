//! `--calibrate REPORT` for `plan` and `doctor`: the library's reading of an
//! earlier build's speed, as a usage error with its hint.

use std::path::Path;

use wheelwright_core::plan::SpeedCalibration;

/// This host's compile speed from an earlier build's report (and the
/// .ninja_log its work dir kept).
pub fn speed_from(report: &Path) -> anyhow::Result<SpeedCalibration> {
    wheelwright_core::job::speed_from_report(report).map_err(|e| {
        let hint = e.hint();
        crate::exit::usage(e.to_string(), hint)
    })
}
