#!/usr/bin/env bash
# Install the wheelwright binary for the action, and print where it is.
#
# Sources, first match wins:
#   WW_WHEELWRIGHT_PATH   a binary already on the runner (used as is);
#   WW_INSTALL=source     `cargo install` from the action's own checkout (only when asked);
#   WW_BINARY_URL + WW_BINARY_SHA256   a mirror: download, verify, cache by sha256;
#   otherwise             the release recorded in action/binaries.txt (WW_VERSION, or
#                         the newest recorded version): download from WW_RELEASES_URL,
#                         verify against the recorded sha256, cache by version.
# A download whose sha256 differs from the expected one is refused (exit 2) and never
# kept. Downloads time out (WW_CONNECT_TIMEOUT, WW_DOWNLOAD_TIMEOUT seconds) instead
# of hanging on a dead mirror.
# Cache: $RUNNER_TOOL_CACHE/wheelwright/<version or sha256-…>/<target>/wheelwright, re-verified
# on every use. Writes `wheelwright=PATH` and `version=V` to $GITHUB_OUTPUT.
# Exit codes: 0 ok, 2 bad input or refused (checksum), 3 download or I/O failure.
# Works with bash 4.2 (CentOS 7) and curl 7.29: no newer flags, no unguarded array expansion.
set -euo pipefail

# Messages quote inputs: line breaks become spaces, so no text of theirs can
# start a line (and with it a workflow command).
one_line() { local s="${1//$'\r'/ }"; printf '%s' "${s//$'\n'/ }"; }
die() { # code message hint
  printf 'wheelwright install: error: %s\nhint: %s\n' "$(one_line "$2")" "$(one_line "$3")" >&2
  exit "$1"
}
note() { printf 'wheelwright install: %s\n' "$(one_line "$*")" >&2; }

action_path="${ACTION_PATH:?ACTION_PATH must name the action checkout}"
table="${WW_BINARIES_TABLE:-$action_path/action/binaries.txt}"
releases_url="${WW_RELEASES_URL:-https://github.com/wheelwright-rs/wheelwright/releases/download}"
connect_timeout="${WW_CONNECT_TIMEOUT:-15}"
download_timeout="${WW_DOWNLOAD_TIMEOUT:-300}"
retries="${WW_DOWNLOAD_RETRIES:-2}"
cache_root="${RUNNER_TOOL_CACHE:-${HOME:?}/.cache}/wheelwright"
out="${GITHUB_OUTPUT:-/dev/null}"

for n in "$connect_timeout" "$download_timeout" "$retries"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die 2 "timeouts and retries must be whole numbers, got '$n'" "fix WW_CONNECT_TIMEOUT, WW_DOWNLOAD_TIMEOUT or WW_DOWNLOAD_RETRIES"
done

# One line per value in $GITHUB_OUTPUT: a path with a newline would forge outputs.
emit() { # name value
  case "$2" in *$'\n'* | *$'\r'*) die 3 "$1 holds a line break" "use a path without line breaks" ;; esac
  printf '%s=%s\n' "$1" "$2" >>"$out"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die 3 "neither sha256sum nor shasum is installed" "install coreutils, or pass wheelwright-path"
  fi
}

# Prove the binary starts here (an old glibc or a wrong architecture shows now).
check_runs() { # path
  local version
  if ! version="$("$1" --version 2>&1)"; then
    die 3 "$1 does not run on this runner: $version" "use install: source, or a binary built for this machine (wheelwright-path)"
  fi
  note "using $1 ($version)"
}

finish() { # path version
  check_runs "$1"
  emit wheelwright "$1"
  emit version "$2"
}

target_triple() {
  local machine
  machine="$(uname -m)"
  case "$machine" in
    x86_64 | amd64) echo x86_64-unknown-linux-gnu ;;
    aarch64 | arm64) echo aarch64-unknown-linux-gnu ;;
    *) die 2 "no released binary for $machine" "use install: source, or wheelwright-path with a binary built for $machine" ;;
  esac
}

# Download $1 to $3 and accept it only when its sha256 is $2.
fetch_verified() { # url sha256 dest
  local url="$1" expected="$2" dest="$3" dir tmp actual
  dir="$(dirname "$dest")"
  mkdir -p "$dir" || die 3 "cannot create $dir" "make RUNNER_TOOL_CACHE writable for the runner's user"
  command -v curl >/dev/null 2>&1 || die 3 "curl is not installed" "install curl, or pass wheelwright-path"
  tmp="$(mktemp "$dir/.download.XXXXXX")" || die 3 "cannot write in $dir" "make RUNNER_TOOL_CACHE writable for the runner's user"
  note "downloading $url"
  if ! curl --fail --location --silent --show-error \
    --connect-timeout "$connect_timeout" --max-time "$download_timeout" \
    --retry "$retries" --retry-delay 2 --output "$tmp" "$url"; then
    rm -f "$tmp"
    die 3 "could not download $url (timeouts: connect ${connect_timeout}s, whole ${download_timeout}s)" \
      "check that the runner reaches it; runners without GitHub access: binary-url + binary-sha256 (a mirror) or wheelwright-path"
  fi
  actual="$(sha256_of "$tmp")"
  if [ "$actual" != "$expected" ]; then
    rm -f "$tmp"
    die 2 "sha256 mismatch for $url: expected $expected, got $actual (the download was deleted)" \
      "the file is not the one recorded; do not use it. Check the mirror, or the sha256 you passed"
  fi
  chmod 755 "$tmp"
  mv -f "$tmp" "$dest"
}

# The cached binary when it still has the expected sha256, else a fresh download.
install_verified() { # url sha256 dest version
  if [ -f "$3" ]; then
    if [ "$(sha256_of "$3")" = "$2" ]; then
      note "cached: $3"
      finish "$3" "$4"
      return
    fi
    note "the cached $3 does not have sha256 $2: downloading it again"
    rm -f "$3"
  fi
  fetch_verified "$1" "$2" "$3"
  finish "$3" "$4"
}

install_mode="$(printf '%s' "${WW_INSTALL:-binary}" | tr '[:upper:]' '[:lower:]')"
case "$install_mode" in
  binary | source) ;;
  *) die 2 "install must be binary or source, got '${WW_INSTALL:-}'" "set install: binary (the default) or install: source" ;;
esac

# 1. A binary already on the runner.
if [ -n "${WW_WHEELWRIGHT_PATH:-}" ]; then
  [ -f "$WW_WHEELWRIGHT_PATH" ] && [ -x "$WW_WHEELWRIGHT_PATH" ] ||
    die 2 "wheelwright-path $WW_WHEELWRIGHT_PATH is not an executable file" "give the full path of the wheelwright binary on the runner"
  path="$(cd "$(dirname "$WW_WHEELWRIGHT_PATH")" && pwd)/$(basename "$WW_WHEELWRIGHT_PATH")"
  finish "$path" given
  exit 0
fi

# 2. Built from the action's source, only when asked.
if [ "$install_mode" = source ]; then
  command -v cargo >/dev/null 2>&1 || die 2 "install: source needs cargo on the runner" "install Rust (rustup), or use install: binary"
  commit="$(git -C "$action_path" rev-parse HEAD 2>/dev/null || true)"
  if [[ "$commit" =~ ^[0-9a-f]{40}$ ]]; then
    root="$cache_root/source-$commit"
  else
    # Not a git checkout: nothing identifies the source, so nothing is reused.
    root="$(mktemp -d "${RUNNER_TEMP:-/tmp}/wheelwright-source.XXXXXX")"
  fi
  if [ ! -x "$root/bin/wheelwright" ]; then
    note "building wheelwright from $action_path (cargo install --locked)"
    cargo install --locked --quiet --path "$action_path" --root "$root" ||
      die 3 "cargo install failed" "read cargo's error above; install: binary needs no Rust"
  fi
  finish "$root/bin/wheelwright" "source-${commit:-unversioned}"
  exit 0
fi

target="$(target_triple)"

# 3. A mirror: URL and sha256 both given.
if [ -n "${WW_BINARY_URL:-}" ] || [ -n "${WW_BINARY_SHA256:-}" ]; then
  [ -n "${WW_BINARY_URL:-}" ] && [ -n "${WW_BINARY_SHA256:-}" ] ||
    die 2 "binary-url and binary-sha256 go together" "pass both: the mirror's URL of the binary and its sha256"
  sha="$(printf '%s' "$WW_BINARY_SHA256" | tr '[:upper:]' '[:lower:]')"
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die 2 "binary-sha256 is not a sha256 (64 hex digits): '$WW_BINARY_SHA256'" "copy it from the release's .sha256 file"
  install_verified "$WW_BINARY_URL" "$sha" "$cache_root/sha256-$sha/$target/wheelwright" "sha256-$sha"
  exit 0
fi

# 4. The release recorded for this version of the action.
[ -f "$table" ] || die 3 "the table of released binaries $table is missing" "use the action from a release tag, or install: source"
version="${WW_VERSION:-}"
if [ -z "$version" ]; then
  version="$(awk '!/^#/ && NF == 3 { print $1 }' "$table" | sort -V | tail -n 1)"
  [ -n "$version" ] || die 2 "no released binary is recorded in $table yet" "use install: source (needs cargo), wheelwright-path, or binary-url + binary-sha256"
fi
[[ "$version" =~ ^[0-9A-Za-z.+-]+$ ]] || die 2 "'$version' is not a version" "use a version recorded in $table"
sha="$(awk -v v="$version" -v t="$target" '!/^#/ && $1 == v && $2 == t { print $3 }' "$table" | tail -n 1)"
[ -n "$sha" ] || die 2 "no binary of wheelwright $version for $target is recorded in $table" \
  "use a recorded version ($(awk '!/^#/ && NF == 3 { print $1 }' "$table" | sort -uV | tr '\n' ' ')), install: source, or binary-url + binary-sha256"
[[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die 3 "the sha256 recorded for $version/$target is malformed" "fix $table"
url="$releases_url/v$version/wheelwright-$version-$target"
install_verified "$url" "$sha" "$cache_root/$version/$target/wheelwright" "$version"
