#!/usr/bin/env bash
# The reusable workflow's verify job (a split build, `verify-runs-on`): the
# wheel a GPU-less runner compiled, checked on this GPU runner before it is
# published. The wheel is installed into a fresh venv that sees the cell's
# torch (a `.pth` adds the cell venv's site dirs after the new venv's own, so
# the cell's venv, shared by later builds, is never changed), then
# `wheelwright wheel verify --import` checks it against the GPUs here and
# imports its modules there.
#
# With variants the artifact also holds the PEP 825 variant wheel: checked
# as the report's file (sha256) and against the GPUs, not installed.
#
# Reads: WHEELWRIGHT, WW_PYTHON (the cell venv's interpreter), WW_DIR (the
# build job's artifact: the wheels its report.json names, and the report),
# RUNNER_TEMP. Writes outcome (ok, or unverified), wheel-path, wheel-name,
# report-path and variant-wheel-path (empty without one) to GITHUB_OUTPUT.
# Exit 2 when the artifact is not the wheels its report names and the report.
set -euo pipefail

dir="${WW_DIR:?}"
report="$dir/report.json"
if [ ! -f "$report" ]; then
  echo "::error title=wheelwright::no report.json in the build job's artifact ($dir)"
  echo "hint: the cell's build job failed before its upload, or uploaded another artifact; its log says why"
  exit 2
fi
# The files the report names: its wheel and, with variants, its PEP 825
# variant wheel (the same code under another name). Read as data: bounded,
# each name a plain file name, each a regular file here (no link).
if [ "$(stat -c %s "$report")" -gt 16777216 ]; then
  echo "::error title=wheelwright::$report is larger than 16 MiB: not a wheelwright report"
  exit 2
fi
names="$("$WW_PYTHON" -I -c '
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
w = (r.get("wheel") or {}).get("name") or ""
v = ((r.get("variant") or {}).get("wheel") or {}).get("name") or ""
print(w); print(v)
' "$report")" || { echo "::error title=wheelwright::$report is not readable JSON"; exit 2; }
main_name="$(printf '%s\n' "$names" | sed -n 1p)"
variant_name="$(printf '%s\n' "$names" | sed -n 2p)"
for n in "$main_name" "$variant_name"; do
  if [ -n "$n" ] && ! [[ "$n" =~ ^[A-Za-z0-9_.+!-]+\.whl$ ]]; then
    echo "::error title=wheelwright::the report names a wheel that is not a plain file name"
    exit 2
  fi
done
count=0
for w in "$dir"/*.whl; do
  if [ -f "$w" ]; then count=$((count + 1)); fi
done
expected=1
if [ -n "$variant_name" ]; then expected=2; fi
wheel="$dir/$main_name" variant=""
if [ -n "$variant_name" ]; then variant="$dir/$variant_name"; fi
if [ -z "$main_name" ] || [ "$count" != "$expected" ] || [ ! -f "$wheel" ] || [ -L "$wheel" ] \
  || { [ -n "$variant" ] && { [ ! -f "$variant" ] || [ -L "$variant" ]; }; }; then
  echo "::error title=wheelwright::expected the $expected wheel(s) report.json names in the build job's artifact ($dir), found $count .whl files"
  echo "hint: the artifact must be one build's: its report.json, its wheel and (variants) its variant wheel"
  exit 2
fi
name="$(basename "$wheel")"
printf 'wheel-path=%s\nwheel-name=%s\nreport-path=%s\nvariant-wheel-path=%s\n' "$wheel" "$name" "$report" "$variant" >>"$GITHUB_OUTPUT"

venv="$(mktemp -d "${RUNNER_TEMP:-/tmp}/wheelwright-verify-venv.XXXXXX")"
trap 'rm -rf "$venv"' EXIT
"$WW_PYTHON" -m venv --without-pip "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$WW_PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' >"$site/wheelwright-cell-venv.pth"
# pip from the cell's venv (through the .pth), installing into the fresh one.
"$venv/bin/python" -m pip install --quiet --no-deps --no-index --ignore-installed "$wheel"
verified() {
  "$WHEELWRIGHT" wheel verify "$wheel" --report "$report" --python "$venv/bin/python" --import || return
  # The variant wheel: the report's file (name and sha256), its device code
  # against the GPUs here; pip cannot install it, its code was imported above.
  if [ -n "$variant" ]; then "$WHEELWRIGHT" wheel verify "$variant" --report "$report"; fi
}
if verified; then
  echo "outcome=ok" >>"$GITHUB_OUTPUT"
else
  status=$?
  echo "outcome=unverified" >>"$GITHUB_OUTPUT"
  echo "::error title=wheelwright::$name did not pass wheel verify on this GPU runner: not published"
  exit "$status"
fi
