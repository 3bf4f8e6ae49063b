#!/usr/bin/env bash
# Where one hop's CPU goes, kernel included: `perf record` (software cpu-clock, 4 kHz) on the hop's process
# for exactly the length of a 16-connection load against the echo upstream, then CPU µs per request split
# by binary (kernel, node's own code and V8 builtins, JIT-compiled JavaScript, libc, SQLite) and the top
# symbols. Needs linux-perf (Debian: linux-perf) and root or perf_event_paranoid <= 1. npm run build first.
#   bench/tools/system-profile.sh G        # T, N, F or G (bench/tools/hold-load.mjs)
#   SECS=10 TOP=40 bench/tools/system-profile.sh T
set -euo pipefail
cd "$(dirname "$0")/../.."
ARM="${1:-G}"
HZ=4000
STATE="$(mktemp -d)"
trap 'rm -rf "$STATE"' EXIT
ARM="$ARM" STATE="$STATE" SECS="${SECS:-8}" node bench/tools/hold-load.mjs >"$STATE/log" 2>&1 &
LOAD=$!
for _ in $(seq 1 600); do [ -s "$STATE/pid" ] && break; kill -0 "$LOAD" 2>/dev/null || { cat "$STATE/log"; exit 1; }; sleep 0.1; done
PID="$(cat "$STATE/pid")"
perf record -q -e cpu-clock -F "$HZ" -p "$PID" -o "$STATE/perf.data" >/dev/null 2>&1 &
PERF=$!
sleep 0.5
touch "$STATE/go"
for _ in $(seq 1 1200); do [ -s "$STATE/done" ] && break; sleep 0.1; done
kill -INT "$PERF"; wait "$PERF" || true
wait "$LOAD" || true
read -r REQS RPS ERRS <"$STATE/done" || true  # no trailing newline
echo "arm $ARM: $RPS req/s, $REQS requests, $ERRS errors; CPU µs per request by binary (1 sample = $((1000000 / HZ)) µs):"
perf report -i "$STATE/perf.data" --no-children --sort dso --stdio -g none -n 2>/dev/null | awk -v reqs="$REQS" -v us="$((1000000 / HZ))" '
  /%/ { n[$3] = $2; t += $2 }
  END { for (k in n) printf "  %-28s %7.1f µs  %5.1f %%\n", k, n[k] * us / reqs, 100 * n[k] / t; printf "  %-28s %7.1f µs\n", "total", t * us / reqs }' | sort -k2 -nr
echo "top symbols (self):"
perf report -i "$STATE/perf.data" --no-children --sort dso,sym --stdio -g none -n 2>/dev/null | awk -v reqs="$REQS" -v us="$((1000000 / HZ))" '
  /%/ { $1 = sprintf("%6.2f µs", $2 * us / reqs); $2 = ""; print "  " $0 }' | head -"${TOP:-25}"
