#!/usr/bin/env bash
# Check the action's boolean inputs and write them to $GITHUB_OUTPUT as exactly
# `true` or `false`, so later steps compare one spelling. `true`/`false` are taken
# in any letter case; anything else (`yes`, `1`, `ture`, empty) stops the action
# with an error naming the input, instead of being read as false.
# Inputs arrive as WW_BOOL_<NAME> variables (NAME upper case, `-` as `_`), e.g.
# WW_BOOL_VERIFY, WW_BOOL_ALLOW_SYSTEM_PYTHON; the output is the input's name in
# lower case with `-` (verify, allow-system-python). Exit 2 on a bad value.
# Works with bash 4.2.
set -euo pipefail

out="${GITHUB_OUTPUT:-/dev/null}"
bad=0
for var in $(compgen -v WW_BOOL_ | sort); do
  name="$(printf '%s' "${var#WW_BOOL_}" | tr '[:upper:]_' '[:lower:]-')"
  value="${!var}"
  case "$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')" in
    true) printf '%s=true\n' "$name" >>"$out" ;;
    false) printf '%s=false\n' "$name" >>"$out" ;;
    *)
      # %q: a value with a line break stays on this line (no forged workflow command).
      printf 'wheelwright: error: input %s must be true or false, got %q\nhint: write %s: true or %s: false (any letter case)\n' \
        "$name" "$value" "$name" "$name" >&2
      bad=1
      ;;
  esac
done
exit $((bad * 2))
