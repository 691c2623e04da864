#!/usr/bin/env bash
# record-release.sh VERSION DIST TABLE: record a release's binaries in the table
# the action installs from (action/binaries.txt), as .github/workflows/release.yml
# does after publishing them.
#
# DIST holds, for each target, the binary `wheelwright-VERSION-TARGET` and its
# `wheelwright-VERSION-TARGET.sha256` (sha256sum's output). Each binary is checked
# against its .sha256 file; then one line "VERSION TARGET SHA256" per target is
# added to TABLE. Recording the same sha256 again changes nothing (a re-run of
# the release job); another sha256 for a version and target already recorded is
# refused: a released binary never changes under the same name.
# Exit codes: 0 recorded (or already recorded), 1 a binary does not match its
# .sha256 file, 2 bad usage or input, 3 I/O error.
# Works with bash 4.2 and coreutils.
set -euo pipefail

die() { # code message hint
  printf 'record-release: error: %s\nhint: %s\n' "$2" "$3" >&2
  exit "$1"
}

[ "$#" -eq 3 ] || die 2 "usage: record-release.sh VERSION DIST TABLE" "e.g. record-release.sh 0.2.0 dist action/binaries.txt"
version="$1" dist="$2" table="$3"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die 2 "the version must be X.Y.Z, got '$version'" "pass the workspace's version from Cargo.toml"
[ -d "$dist" ] || die 2 "$dist is not a folder" "pass the folder holding the release's binaries and .sha256 files"
[ -f "$table" ] || die 2 "$table does not exist" "pass action/binaries.txt"

found=0 lines=""
for f in "$dist"/wheelwright-"$version"-*.sha256; do
  [ -e "$f" ] || continue
  found=1
  name="$(basename "$f" .sha256)"
  target="${name#wheelwright-"$version"-}"
  case "$target" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
    *) die 2 "$name: unknown target '$target'" "the action installs x86_64-unknown-linux-gnu and aarch64-unknown-linux-gnu binaries" ;;
  esac
  read -r sha file <"$f" || die 2 "$f is empty" "write it with: sha256sum $name > $name.sha256"
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die 2 "$f does not start with a sha256" "write it with: sha256sum $name > $name.sha256"
  [ "${file#\*}" = "$name" ] || die 2 "$f names '$file', not $name" "write it with: sha256sum $name > $name.sha256"
  [ -f "$dist/$name" ] || die 2 "$dist/$name is missing" "keep each binary beside its .sha256 file"
  (cd "$dist" && sha256sum --check --status "$name.sha256") ||
    die 1 "$dist/$name does not have the sha256 of $name.sha256" "the binary changed after it was hashed: rebuild the release"
  recorded="$(awk -v v="$version" -v t="$target" '!/^#/ && $1 == v && $2 == t { print $3 }' "$table")"
  if [ -n "$recorded" ]; then
    [ "$recorded" = "$sha" ] ||
      die 2 "$version $target is already recorded with sha256 $recorded, not $sha" "a released binary never changes: release a new version"
    printf 'record-release: %s %s already recorded\n' "$version" "$target"
    continue
  fi
  lines="$lines$version $target $sha"$'\n'
done
[ "$found" = 1 ] || die 2 "no wheelwright-$version-*.sha256 in $dist" "build the release's binaries first (the release workflow's build job)"

# Nothing is written before every binary is checked.
if [ -n "$lines" ]; then
  printf '%s' "$lines" >>"$table" || die 3 "cannot append to $table" "make it writable"
  printf '%s' "$lines" | sed 's/^/record-release: recorded /'
fi
