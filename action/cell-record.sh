#!/usr/bin/env bash
# The reusable workflow's last step of a build cell, run whatever happened
# before it: what the cell did, as one JSON record that the summary job
# (`wheelwright matrix-summary`) joins to the matrix.
#
# Reads: WW_CELL_NAME (the matrix cell's name), WW_JOB_STATUS (job.status:
# success, failure, cancelled), WW_OUTCOME (the action's outcome output: ok,
# oom-killed, thrashing, failed, cancelled; the verify job's: ok, unverified;
# empty when the build step never ran), WW_WHEEL_NAME (the wheel made), WW_PREBUILT_URL (set when a prebuilt
# wheel was used instead of compiling), WW_PUBLISH (non-empty when the cell was
# asked to publish), WW_INSTALL_COMMAND (the published wheel's install command).
# Writes the record to $1 (a file; its folder is created).
# The outcome: built (the wheel compiled and every step passed), reused (a
# prebuilt wheel passed its checks instead), failed (anything else, with why).
# Exit 2 on bad usage. Needs python3.
set -euo pipefail

out="${1:?usage: cell-record.sh RECORD.json}"
mkdir -p "$(dirname "$out")"
python3 - "$out" <<'PY'
import json, os, sys

env = os.environ.get
status = env("WW_JOB_STATUS", "")
outcome = env("WW_OUTCOME", "")
wheel = env("WW_WHEEL_NAME", "")
if status == "success" and outcome == "ok":
    kind = "reused" if env("WW_PREBUILT_URL") else "built"
    detail = ""
elif outcome == "unverified":
    kind, detail = "failed", "the wheel did not pass wheel verify on the GPU runner (not published)"
elif outcome and outcome != "ok":
    kind, detail = "failed", f"the build ended {outcome}"
elif outcome == "ok":
    kind, detail = "failed", f"the wheel was made, then a later step failed (job {status or 'unknown'}): publish or upload"
else:
    kind, detail = "failed", f"job {status or 'unknown'} before the build ran (install, venv or an input)"
published = kind != "failed" and bool(env("WW_PUBLISH"))
record = {
    "name": env("WW_CELL_NAME", ""),
    "outcome": kind,
    "wheel": wheel,
    "published": published,
    "install-command": env("WW_INSTALL_COMMAND", "") if published else "",
    "detail": detail,
}
if not record["name"]:
    sys.exit("cell-record.sh: WW_CELL_NAME is empty")
with open(sys.argv[1], "w") as f:
    json.dump(record, f)
print(f"wheelwright: cell {record['name']}: {kind}" + (f" ({detail})" if detail else ""))
PY
