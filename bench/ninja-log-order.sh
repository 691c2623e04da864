#!/usr/bin/env bash
# Does a pre-seeded `.ninja_log` change the order ninja starts jobs in?
# Seven independent `sleep` edges, the long one (1.2 s) last in the manifest
# after six short ones (0.2 s), `-j 2`. Each configuration runs on a clean tree:
# "cold" without a log, "seeded" over a v7 log that says which jobs are long.
# With longest-first the wall is 1.2 s, in manifest order 1.8 s.
# Usage: bash bench/ninja-log-order.sh [NINJA ...]   (default: ninja on PATH)
set -eu
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
edges="a.o:0.2 b.o:0.2 c.o:0.2 d.o:0.2 e.o:0.2 f.o:0.2 z_long.o:1.2"
{
  printf 'rule job\n  command = echo $out >> starts.txt && sleep $secs && touch $out\n'
  for e in $edges; do printf 'build %s: job\n  secs = %s\n' "${e%%:*}" "${e##*:}"; done
} > "$W/build.ninja"
run() { # NINJA cold|seeded
  (cd "$W" && rm -f ./*.o starts.txt .ninja_log .ninja_deps)
  if [ "$2" = seeded ]; then
    printf '# ninja log v7\n' > "$W/.ninja_log"
    for e in $edges; do
      ms=$(awk -v s="${e##*:}" 'BEGIN { print s * 1000 }')
      # start, end, mtime, output, command hash (0: matches no command)
      printf '0\t%s\t0\t%s\t0\n' "$ms" "${e%%:*}" >> "$W/.ninja_log"
    done
  fi
  local s e
  s=$(date +%s%N); (cd "$W" && "$1" -j 2 > /dev/null); e=$(date +%s%N)
  printf '%-38s %-6s wall %5.2f s  started: %s\n' "$("$1" --version)" "$2" \
    "$(awk -v d=$((e - s)) 'BEGIN { print d / 1e9 }')" "$(tr '\n' ' ' < "$W/starts.txt")"
}
for n in "${@:-ninja}"; do
  for mode in cold seeded cold seeded; do run "$n" "$mode"; done
done
