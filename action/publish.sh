#!/usr/bin/env bash
# Publish the wheel a successful build's report names (`wheelwright publish
# --report`) to the targets asked for: the action's Publish step, and the
# reusable workflow's verify job (split builds: after `wheel verify` passed on
# the GPU runner).
#
# Reads: WHEELWRIGHT, WW_REPORT, WW_GITHUB_RELEASE, WW_WHEELHOUSE,
# WW_INDEX_DIR + WW_BASE_URL, WW_INDEX_URL, WW_WHEELHOUSE_URL, WW_WHEEL_NAME,
# WW_TORCH_INDEX_URL (the install command's --extra-index-url), GITHUB_TOKEN.
# Writes asset-urls (wheelwright publish), index-url and
# install-command to GITHUB_OUTPUT, the install command to the step summary.
set -euo pipefail
args=()
targets=0
if [ -n "$WW_GITHUB_RELEASE" ]; then args+=(--github-release "$WW_GITHUB_RELEASE"); targets=1; fi
if [ -n "$WW_WHEELHOUSE" ]; then args+=(--wheelhouse "$WW_WHEELHOUSE"); targets=1; fi
if [ -n "$WW_INDEX_DIR" ]; then args+=(--index-dir "$WW_INDEX_DIR" --base-url "$WW_BASE_URL"); targets=1; fi
if [ -n "$WW_INDEX_URL" ]; then args+=(--index-url "$WW_INDEX_URL"); targets=1; fi
if [ "$targets" = 0 ]; then
  echo "wheelwright: no publish-* input: nothing published"
  exit 0
fi
# Only the wheel report.json names; writes the asset-urls output.
"$WHEELWRIGHT" publish --report "$WW_REPORT" ${args[@]+"${args[@]}"}
if [ -n "$WW_WHEELHOUSE" ] && [ -n "$WW_WHEELHOUSE_URL" ]; then
  # The folder publish gives the wheel's local label: lower case, - and _ as . (PEP 440).
  local_label="$(printf '%s' "$WW_WHEEL_NAME" | cut -d- -f2 | sed -n 's/^[^+]*+//p' | tr 'A-Z_-' 'a-z..')"
  project="$(printf '%s' "$WW_WHEEL_NAME" | cut -d- -f1)"
  if [ -n "$local_label" ]; then index="${WW_WHEELHOUSE_URL%/}/$local_label/simple/"; else index="${WW_WHEELHOUSE_URL%/}/simple/"; fi
  command="pip install --index-url $index $project"
  if [ -n "$WW_TORCH_INDEX_URL" ]; then
    [[ "$WW_TORCH_INDEX_URL" =~ ^https?://[^[:space:][:cntrl:]]+$ ]] || { echo "wheelwright: publish-torch-index-url is not an http(s) URL" >&2; exit 2; }
    # torch==X.Y.* (the wheel's pin) from torch's index; the project only from its own.
    command="pip install --index-url $index --extra-index-url $WW_TORCH_INDEX_URL $project"
  fi
  [[ "$command" =~ ^[^[:cntrl:]]+$ ]] || { echo "wheelwright: publish-wheelhouse-url holds a control character" >&2; exit 2; }
  printf 'index-url=%s\ninstall-command=%s\n' "$index" "$command" >>"$GITHUB_OUTPUT"
  printf '### Install\n\n```sh\n%s\n```\n' "$command" >>"$GITHUB_STEP_SUMMARY"
fi
