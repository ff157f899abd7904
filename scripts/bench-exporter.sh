#!/usr/bin/env bash
# Footprint of ec_exporter serve on the simulated EC: RSS and CPU at 1 probe/s over
# IDLE seconds (no scrapes), then /metrics latency with SCRAPERS concurrent scrapers for
# LOAD seconds (tools/scrapebench), with no in-flight limit (--web.max-requests=0; the
# default 40 answers the 41st concurrent scrape with 503). Usage: scripts/bench-exporter.sh [IDLE] [LOAD] [SCRAPERS]
set -euo pipefail
IDLE=${1:-60}
LOAD=${2:-30}
SCRAPERS=${3:-50}
PORT=${PORT:-10236}
EXTRA=${EXTRA:-} # more serve flags, e.g. EXTRA=--no-rt.mlock
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/ec_exporter" ./cmd/ec_exporter
go build -o "$tmp/scrapebench" ./tools/scrapebench
"$tmp/ec_exporter" serve --ec.transport=sim --probe.interval=1s --web.listen-address=127.0.0.1:$PORT \
	--web.max-requests=0 --log.level=warn $EXTRA >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/-/healthy" >/dev/null && break; sleep 0.1; done
sleep 5 # let start-up (identity reads, mlockall) settle
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
# On-CPU nanoseconds of all live threads: finer than the 10 ms ticks of utime+stime.
runns() { cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s}'; }
t0=$(ticks); n0=$(runns); s0=$(date +%s.%N)
sleep "$IDLE"
t1=$(ticks); n1=$(runns); s1=$(date +%s.%N)
cpu=$(echo "($t1 - $t0) / $hz / ($s1 - $s0) * 100" | bc -l)
cpuns=$(echo "($n1 - $n0) / 1000000000 / ($s1 - $s0) * 100" | bc -l)
echo "idle at 1 probe/s for ${IDLE}s: RSS $(rss) KiB ($(echo "$(rss) / 1024" | bc -l | cut -c1-5) MiB), CPU $(printf '%.3f' "$cpu") % of one core (ticks), $(printf '%.3f' "$cpuns") % (schedstat)"
echo "VmLck $(awk '/^VmLck/ {print $2}' /proc/$pid/status) KiB (mlockall), threads $(ls /proc/$pid/task | wc -l)"
# 50 Prometheus-like scrapers at a 1 s interval (open loop), then back to back (saturation).
"$tmp/scrapebench" -url "http://127.0.0.1:$PORT/metrics" -c "$SCRAPERS" -d "${LOAD}s" -every 1s
"$tmp/scrapebench" -url "http://127.0.0.1:$PORT/metrics" -c "$SCRAPERS" -d "${LOAD}s"
echo "after the scrape load: RSS $(rss) KiB, VmHWM $(awk '/^VmHWM/ {print $2}' /proc/$pid/status) KiB"
