#!/usr/bin/env bash
# The reusable workflow's verify job (a split build, `verify-runs-on`): the
# wheel a GPU-less runner compiled, checked on this GPU runner before it is
# published. The wheel is installed into a fresh venv that sees the cell's
# torch (a `.pth` adds the cell venv's site dirs after the new venv's own, so
# the cell's venv, shared by later builds, is never changed), then
# `wheelwright wheel verify --import` checks it against the GPUs here and
# imports its modules there.
#
# Reads: WHEELWRIGHT, WW_PYTHON (the cell venv's interpreter), WW_DIR (the
# build job's artifact: the wheel and its report.json), RUNNER_TEMP.
# Writes outcome (ok, or unverified), wheel-path, wheel-name and report-path
# to GITHUB_OUTPUT. Exit 2 when the artifact is not one wheel and its report.
set -euo pipefail

dir="${WW_DIR:?}"
report="$dir/report.json"
if [ ! -f "$report" ]; then
  echo "::error title=wheelwright::no report.json in the build job's artifact ($dir)"
  echo "hint: the cell's build job failed before its upload, or uploaded another artifact; its log says why"
  exit 2
fi
count=0 wheel=""
for w in "$dir"/*.whl; do
  if [ -f "$w" ]; then count=$((count + 1)) wheel="$w"; fi
done
if [ "$count" != 1 ]; then
  echo "::error title=wheelwright::expected one wheel in the build job's artifact ($dir), found $count"
  exit 2
fi
name="$(basename "$wheel")"
printf 'wheel-path=%s\nwheel-name=%s\nreport-path=%s\n' "$wheel" "$name" "$report" >>"$GITHUB_OUTPUT"

venv="$(mktemp -d "${RUNNER_TEMP:-/tmp}/wheelwright-verify-venv.XXXXXX")"
trap 'rm -rf "$venv"' EXIT
"$WW_PYTHON" -m venv --without-pip "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$WW_PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' >"$site/wheelwright-cell-venv.pth"
# pip from the cell's venv (through the .pth), installing into the fresh one.
"$venv/bin/python" -m pip install --quiet --no-deps --no-index --ignore-installed "$wheel"
if "$WHEELWRIGHT" wheel verify "$wheel" --report "$report" --python "$venv/bin/python" --import; then
  echo "outcome=ok" >>"$GITHUB_OUTPUT"
else
  status=$?
  echo "outcome=unverified" >>"$GITHUB_OUTPUT"
  echo "::error title=wheelwright::$name did not pass wheel verify on this GPU runner: not published"
  exit "$status"
fi
