#!/usr/bin/env bash
# The Python environment of one matrix cell on a self-hosted runner, made once
# and reused by every later build of the same cell on that runner.
#
# Inputs (environment): WW_PYTHON_VERSION (3.12), WW_TORCH_VERSION (2.8.0),
# WW_TORCH_INDEX (the cell's torch index, .../cu128), WW_TORCH_INDEX_BASE (a
# mirror of PyTorch's indexes: torch then comes from <base>/cu128), WW_CXX11_ABI
# (TRUE or FALSE, the cell's C++ ABI), WHEELWRIGHT (the binary, for `setup`).
#
# The venv lives at $RUNNER_TOOL_CACHE/wheelwright/venvs/py<python>-torch<torch>-
# <index>-abi<true|false>. Cells running at once on one host share the tool cache:
# the venv is made under an exclusive lock (flock on <venv>.lock), at its final
# path (a venv moved after it is made keeps the old path in its scripts'
# shebangs), and marked ready only when complete; a venv left half made by a
# killed job is made again. `wheelwright setup` runs under the same lock.
# A cell whose torch has another C++ ABI than the cell names is refused (exit 2):
# PyPI's torch <= 2.6 has only the old ABI, >= 2.7 only the new one.
# Writes python=<venv>/bin/python and torch-index-url=<the index torch came
# from> to $GITHUB_OUTPUT. Exit codes: 0 ready,
# 2 bad input or a refused cell, 3 the venv could not be made.
set -euo pipefail

one_line() { local s="${1//$'\r'/ }"; printf '%s' "${s//$'\n'/ }"; }
die() { # code message hint
  printf '::error title=wheelwright venv::%s\nhint: %s\n' "$(one_line "$2")" "$(one_line "$3")"
  exit "$1"
}
note() { printf 'wheelwright venv: %s\n' "$(one_line "$*")"; }

py="${WW_PYTHON_VERSION:-}" torch="${WW_TORCH_VERSION:-}" index="${WW_TORCH_INDEX:-}"
abi="$(printf '%s' "${WW_CXX11_ABI:-TRUE}" | tr '[:lower:]' '[:upper:]')"
[[ "$py" =~ ^3\.[0-9]+$ ]] || die 2 "bad matrix cell: python '$py'" "use the matrix wheelwright plan --matrix prints"
[[ "$torch" =~ ^[0-9]+(\.[0-9]+)*$ ]] || die 2 "bad matrix cell: torch '$torch'" "use the matrix wheelwright plan --matrix prints"
[[ "$abi" =~ ^(TRUE|FALSE)$ ]] || die 2 "bad matrix cell: cxx11-abi '${WW_CXX11_ABI:-}'" "TRUE or FALSE"
[[ "$index" =~ ^https?://[^[:space:]]+$ ]] || die 2 "bad matrix cell: torch-index-url '$index'" "use the matrix wheelwright plan --matrix prints"
flavour="$(basename "$index")"
[[ "$flavour" =~ ^[A-Za-z0-9._-]+$ ]] || die 2 "bad torch index '$index'" "it ends in the CUDA flavour, e.g. /cu128"
if [ -n "${WW_TORCH_INDEX_BASE:-}" ]; then
  index="${WW_TORCH_INDEX_BASE%/}/$flavour"
fi
command -v "python$py" >/dev/null 2>&1 ||
  die 2 "python$py is not on this runner's PATH" "install CPython $py on the runner (e.g. uv python install $py, then link python$py into PATH), or leave $py out of the matrix (python input)"
command -v flock >/dev/null 2>&1 || die 3 "flock is not installed" "install util-linux"

root="${RUNNER_TOOL_CACHE:?}/wheelwright/venvs"
venv="$root/py$py-torch$torch-$flavour-abi$(printf '%s' "$abi" | tr '[:upper:]' '[:lower:]')"
mkdir -p "$root" || die 3 "cannot create $root" "make RUNNER_TOOL_CACHE writable for the runner's user"
exec 9>"$venv.lock"
if ! flock --nonblock 9; then
  note "another job on this runner is making $venv: waiting for it"
  flock 9
fi

if [ ! -f "$venv/.wheelwright-ready" ]; then
  if [ -e "$venv" ]; then
    note "$venv was left half made (a killed job?): making it again"
    rm -rf "$venv"
  fi
  note "making $venv (python$py, torch==$torch from $index)"
  "python$py" -m venv "$venv" || die 3 "python$py -m venv failed" "install the venv module (Debian: python$py-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$torch" --index-url "$index" ||
    die 3 "could not install torch==$torch from $index" "check that the runner reaches $index (torch-index-url takes a mirror)"
fi

got="$("$venv/bin/python" -c 'import torch; print("TRUE" if torch._C._GLIBCXX_USE_CXX11_ABI else "FALSE")')" ||
  die 3 "torch does not import in $venv" "remove $venv and run the job again"
if [ "$got" != "$abi" ]; then
  die 2 "this cell asks for cxx11-abi $abi, but torch $torch from $index was built with cxx11-abi $got" \
    "PyPI's torch <= 2.6 ships only the old ABI (FALSE), >= 2.7 only the new one (TRUE): give this cell a torch of ABI $abi (torch-index-url, or a container that has one), or leave it out of the matrix"
fi

"${WHEELWRIGHT:?}" setup --python "$venv/bin/python" || die 3 "wheelwright setup failed in $venv" "read its error above"
touch "$venv/.wheelwright-ready"
printf 'python=%s/bin/python\ntorch-index-url=%s\n' "$venv" "$index" >>"${GITHUB_OUTPUT:-/dev/null}"
