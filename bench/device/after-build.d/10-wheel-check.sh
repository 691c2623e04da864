#!/usr/bin/env bash
# Issue 13 on the real wheel: `wheelwright wheel check` against the build's own
# report.json (archs, symbols against torch's libraries, glibc/manylinux policy),
# with cuobjdump and `ldd -r` cross-checks (bench/device/wheel-check.sh).
set -u
[ -n "${WHEEL:-}" ] || { echo "no wheel (outcome ${OUTCOME:-none}): nothing to check"; exit 1; }
mkdir -p "$STEP_OUT"
WHEELWRIGHT="$BIN" bash bench/device/wheel-check.sh "$W/out" "$STEP_OUT" /opt/torch/.venv/bin/python
echo "--- wheel check (text)"; cat "$STEP_OUT/wheel-check.txt"
# The step passes when the check against the report passed (the script itself
# goes on through its cross-checks whatever each one gives).
grep -q "^wheel check (text) exit: 0$" "$STEP_OUT/summary.txt"
