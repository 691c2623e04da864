#!/usr/bin/env bash
# check-glibc.sh BINARY MAX: prove that a release binary runs on old distributions.
# Prints the GLIBC symbol versions BINARY requires (its .gnu.version_r, read with
# readelf, so any architecture can be checked on any host) and fails (exit 1) when
# the highest is above MAX (e.g. 2.17, CentOS 7), or when BINARY is not a dynamically
# linked ELF: a static binary could not dlopen libnvidia-ml.so.1 (NVML).
# Exit 2 on bad usage. Used by .github/workflows/release.yml and its test.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: check-glibc.sh BINARY MAX_GLIBC_VERSION" >&2
  exit 2
fi
bin="$1" max="$2"
[[ "$max" =~ ^[0-9]+(\.[0-9]+)*$ ]] || { echo "error: '$max' is not a glibc version" >&2; exit 2; }
[ -f "$bin" ] || { echo "error: $bin does not exist" >&2; exit 2; }
if ! readelf --file-header "$bin" >/dev/null 2>&1; then
  echo "error: $bin is not an ELF file" >&2
  exit 1
fi
if ! readelf --dynamic "$bin" | grep 'NEEDED.*libc\.so\.6' >/dev/null; then
  echo "error: $bin is not linked against glibc (static?): it could not load NVML" >&2
  exit 1
fi
versions="$(readelf --version-info --wide "$bin" | grep -o 'Name: GLIBC_[0-9][0-9.]*' | sed 's/^Name: GLIBC_//' | sort -uV)"
if [ -z "$versions" ]; then
  echo "error: no GLIBC symbol versions found in $bin" >&2
  exit 1
fi
highest="$(printf '%s\n' "$versions" | tail -n 1)"
echo "GLIBC versions required by $bin: $(printf '%s\n' "$versions" | tr '\n' ' ')"
if [ "$(printf '%s\n%s\n' "$highest" "$max" | sort -V | tail -n 1)" != "$max" ]; then
  echo "error: $bin requires GLIBC_$highest, newer than $max" >&2
  exit 1
fi
echo "ok: the highest is GLIBC_$highest <= $max"
