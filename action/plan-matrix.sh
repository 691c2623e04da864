#!/usr/bin/env bash
# The reusable workflow's plan job: the build matrix, the cells a pull request
# builds, and the plan in the job's summary.
#
# WW_MATRIX, when set, is used as is; otherwise `wheelwright plan --matrix` with
# WW_PYTHON, WW_TORCH, WW_CUDA, WW_ARCHS, WW_RUNS_ON (comma separated labels) and
# WW_SKIP_PUBLISHED. On a pull request (WW_EVENT=pull_request) WW_PULL_REQUEST
# picks the cells: smoke (the first one), none, or all.
# Writes to $GITHUB_OUTPUT: matrix (JSON), cells (how many), and
# wheelhouse-index-url (WW_WHEELHOUSE_URL/simple/, when set); to
# $GITHUB_STEP_SUMMARY: the cells, the ones left out and why.
# Exit 2 on bad input (the planner's own exit code when it refuses).
# Needs python3 (GitHub's hosted runners have it). Works with bash 4.2.
set -euo pipefail

out="${GITHUB_OUTPUT:-/dev/null}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
one_line() { local s="${1//$'\r'/ }"; printf '%s' "${s//$'\n'/ }"; }
die() { # code message hint
  printf '::error title=wheelwright plan::%s\nhint: %s\n' "$(one_line "$2")" "$(one_line "$3")"
  exit "$1"
}

event="${WW_EVENT:-}"
mode="$(printf '%s' "${WW_PULL_REQUEST:-smoke}" | tr '[:upper:]' '[:lower:]')"
case "$mode" in
  smoke | none | all) ;;
  *) die 2 "pull-request must be smoke, none or all, got '${WW_PULL_REQUEST:-}'" "set pull-request: smoke (one cell), none or all" ;;
esac

left_out="$(mktemp)"
trap 'rm -f "$left_out"' EXIT
if [ -n "${WW_MATRIX:-}" ]; then
  matrix="$WW_MATRIX"
  source_note="the matrix given as input"
else
  args=(plan --matrix)
  if [ -n "${WW_PYTHON:-}" ]; then args+=(--python "$WW_PYTHON"); fi
  if [ -n "${WW_TORCH:-}" ]; then args+=(--torch "$WW_TORCH"); fi
  if [ -n "${WW_CUDA:-}" ]; then args+=(--cuda "$WW_CUDA"); fi
  if [ -n "${WW_ARCHS:-}" ]; then args+=(--archs "$WW_ARCHS"); fi
  if [ -n "${WW_SKIP_PUBLISHED:-}" ]; then args+=(--skip-published "$WW_SKIP_PUBLISHED"); fi
  labels=()
  IFS=', ' read -r -a labels <<<"${WW_RUNS_ON:-}"
  for label in ${labels[@]+"${labels[@]}"}; do args+=(--runs-on "$label"); done
  code=0
  matrix="$("${WHEELWRIGHT:?}" ${args[@]+"${args[@]}"} 2>"$left_out")" || code=$?
  cat "$left_out" >&2
  if [ "$code" != 0 ]; then
    {
      printf '### wheelwright plan: no matrix\n\n```\n'
      cat "$left_out"
      printf '```\n'
    } >>"$summary"
    exit "$code"
  fi
  source_note="\`wheelwright ${args[*]}\`"
fi

# The cells this run builds, and the summary, from the one JSON.
picked="$(WW_MODE="$mode" WW_EVENT="$event" python3 -c '
import json, os, sys
m = json.loads(sys.stdin.read())
cells = m.get("include")
if not isinstance(cells, list):
    sys.exit("the matrix has no include list")
if os.environ["WW_EVENT"] == "pull_request":
    cells = {"smoke": cells[:1], "none": [], "all": cells}[os.environ["WW_MODE"]]
print(json.dumps({"include": cells}, separators=(",", ":")))
' <<<"$matrix")" || die 2 "the matrix is not JSON with an include list" "pass the output of wheelwright plan --matrix"

cells="$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)["include"]))' <<<"$picked")"
printf 'matrix=%s\ncells=%s\n' "$picked" "$cells" >>"$out"
if [ -n "${WW_WHEELHOUSE_URL:-}" ]; then
  printf 'wheelhouse-index-url=%s/simple/\n' "${WW_WHEELHOUSE_URL%/}" >>"$out"
fi

{
  printf '### wheelwright plan: %s cells\n\nFrom %s' "$cells" "$source_note"
  if [ "$event" = pull_request ] && [ "$mode" != all ]; then
    printf ' (a pull request builds %s: pull-request: %s)' "$([ "$mode" = smoke ] && echo 'the first cell' || echo 'no cell')" "$mode"
  fi
  printf '.\n\n| cell | runs on | archs | wheel |\n|---|---|---|---|\n'
  python3 -c '
import json, sys
for c in json.load(sys.stdin)["include"]:
    runs_on = c.get("runs-on", "")
    if isinstance(runs_on, list):
        runs_on = ", ".join(runs_on)
    row = [c.get("name", ""), runs_on, c.get("archs") or "the runner'"'"'s GPUs", c.get("wheel", "")]
    print("| " + " | ".join("`%s`" % str(v).replace("`", "") for v in row) + " |")
' <<<"$picked"
  if [ -s "$left_out" ]; then
    printf '\nLeft out:\n\n```\n'
    cat "$left_out"
    printf '```\n'
  fi
} >>"$summary"
echo "wheelwright: $cells cells to build"
