#!/usr/bin/env bash
# Real-time worker benchmark (issue #3): in one run per load case, side by side under the same
# load, cyclictest at SCHED_FIFO 50 / 1 ms, the Go worker's wake-up probe and periodic-job schedule
# delay at SCHED_FIFO 50 (tools/rtbench), a SCHED_OTHER Go worker's schedule delay, and a FIFO worker
# on the last CPU with the rest of its process confined to the other CPUs (rt.Config.ConfineRuntime).
# Load cases: "cpu" = nice -n -20 stress-ng --cpu 0 (every core); "cpu+hdd" = that plus a
# direct-I/O + fsync disk flood (stress-ng --hdd). Then "decide": rt.Worker (futex wait) vs a
# channel-woken locked goroutine vs a bare clock_nanosleep loop, one after another under CPU load;
# "procs": CPU-bound goroutines and GC churn inside the worker's process at several GOMAXPROCS;
# "stall" (not run by default): 3×D seconds to catch rare long stalls, with and without ConfineRuntime.
# Needs root, cyclictest (rt-tests) and stress-ng.
# Usage: scripts/rtbench.sh [SECONDS per case, default 60] [OUTDIR] [CASES, default "cpu cpu+hdd decide"]
set -euo pipefail
D=${1:-60}
OUT=${2:-$(mktemp -d /tmp/rtbench.XXXXXX)}
CASES=${3:-"cpu cpu+hdd decide procs"}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
go build -o "$OUT/rtbench" ./tools/rtbench
B="$OUT/rtbench"
last=$(($(nproc) - 1))
loadpids=()
stop_load() {
	for p in "${loadpids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${loadpids[@]}"; do wait "$p" 2>/dev/null || true; done
	loadpids=()
	rm -rf "$OUT/hdd"
}
trap stop_load EXIT
start_load() { # $1 = cpu | cpu+hdd, $2 = seconds
	nice -n -20 stress-ng --cpu 0 --timeout "$(($2 + 30))s" --quiet &
	loadpids+=($!)
	if [[ $1 == *hdd* ]]; then
		mkdir -p "$OUT/hdd"
		nice -n -20 stress-ng --hdd 2 --hdd-opts direct,fsync --hdd-bytes 256m --temp-path "$OUT/hdd" \
			--timeout "$(($2 + 30))s" --quiet &
		loadpids+=($!)
	fi
	sleep 3
}
{
	echo "# rtbench $(date -u +%FT%TZ) D=${D}s"
	echo "# $(uname -srvm); $(dmesg 2>/dev/null | grep -o 'Dynamic Preempt: [a-z]*' | head -1); nproc $(nproc)"
	echo "# cyclictest: $(cyclictest --help 2>&1 | head -1); stress-ng: $(stress-ng --version 2>&1 | head -1)"
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/env.txt"

for c in $CASES; do
	case $c in
	cpu | cpu+hdd)
		n=${c/+/-}
		start_load "$c" "$D"
		cyclictest -m -p50 -i1000 -h20000 -q -D"${D}s" >"$OUT/$n-cyclictest.txt" &
		p1=$!
		"$B" run -mode worker -policy fifo -priority 50 -wakeup 1ms -every 1ms -d "${D}s" -out "$OUT/$n-fifo" >"$OUT/$n-fifo.log" &
		p2=$!
		"$B" run -mode worker -policy other -every 1ms -d "${D}s" -out "$OUT/$n-other" >"$OUT/$n-other.log" &
		p3=$!
		"$B" run -mode worker -policy fifo -priority 50 -wakeup 1ms -every 1ms -cpus "$last" -confine -runtime-nice -20 \
			-d "${D}s" -out "$OUT/$n-conf" >"$OUT/$n-conf.log" &
		p4=$!
		wait $p1 $p2 $p3 $p4
		echo "# load average after $c: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/env.txt"
		stop_load
		"$B" report -title "### load: $c (nice -n -20 stress-ng --cpu 0$([[ $c == *hdd* ]] && echo ' + stress-ng --hdd 2 --hdd-opts direct,fsync'))" \
			-cyclictest "cyclictest -p50 -i1000 (wake-up)=$OUT/$n-cyclictest.txt" \
			-wakeup "Go rt.Worker FIFO 50 wake-up probe=$OUT/$n-fifo-wakeup.hist" \
			-fifo "Go rt.Worker FIFO 50 schedule delay (Every 1ms)=$OUT/$n-fifo-every.hist" \
			-other "Go rt.Worker OTHER schedule delay (Every 1ms)=$OUT/$n-other-every.hist" \
			"Go FIFO 50 on CPU $last, runtime confined (nice -20) wake-up probe=$OUT/$n-conf-wakeup.hist" \
			"Go FIFO 50 on CPU $last, runtime confined (nice -20) schedule delay=$OUT/$n-conf-every.hist" | tee "$OUT/$n-report.md"
		cat "$OUT/$n-fifo.log" "$OUT/$n-other.log" "$OUT/$n-conf.log" | grep '^#' | sed 's/^# rtbench run //' | tee -a "$OUT/$n-report.md"
		;;
	decide)
		d=$(((D + 1) / 2))
		start_load cpu $((3 * d + 10))
		"$B" run -mode worker -policy fifo -wakeup 1ms -submit 1ms -d "${d}s" -out "$OUT/decide-futex" >"$OUT/decide-futex.log"
		"$B" run -mode chan -policy fifo -wakeup 1ms -submit 1ms -d "${d}s" -out "$OUT/decide-chan" >"$OUT/decide-chan.log"
		"$B" run -mode nanosleep -policy fifo -wakeup 1ms -d "${d}s" -out "$OUT/decide-nanosleep" >"$OUT/decide-nanosleep.log"
		stop_load
		"$B" report -title "### wait mechanism (load: cpu, ${d}s each, one after another)" \
			"futex wait: wake-up=$OUT/decide-futex-wakeup.hist" "futex wait: Submit delay=$OUT/decide-futex-submit.hist" \
			"channel + Go timer: wake-up=$OUT/decide-chan-wakeup.hist" "channel: Submit delay=$OUT/decide-chan-submit.hist" \
			"bare clock_nanosleep: wake-up=$OUT/decide-nanosleep-wakeup.hist" | tee "$OUT/decide-report.md"
		;;
	procs)
		d=$(((D + 2) / 3))
		start_load cpu $((7 * d + 10))
		rows=()
		for v in "2 2 0 -" "3 2 0 -" "4 2 0 -" "2 0 50 -" "4 0 50 -" "2 0 50 confine"; do
			read -r gmp busy churn conf <<<"$v"
			n="procs-g$gmp-b$busy-c$churn-$conf"
			extra=()
			label=""
			if [[ $conf == confine ]]; then
				extra=(-confine -runtime-nice -20)
				label=", ConfineRuntime nice -20"
			fi
			GOMAXPROCS=$gmp "$B" run -mode worker -policy fifo -wakeup 1ms -every 1ms -busy "$busy" -gc-churn "$churn" "${extra[@]}" \
				-d "${d}s" -out "$OUT/$n" >"$OUT/$n.log"
			rows+=("GOMAXPROCS=$gmp, $busy busy goroutines, GC churn ${churn} MB/s$label: wake-up=$OUT/$n-wakeup.hist"
				"GOMAXPROCS=$gmp, $busy busy goroutines, GC churn ${churn} MB/s$label: Every delay=$OUT/$n-every.hist")
		done
		stop_load
		"$B" report -title "### in-process competition for Ps (load: cpu, ${d}s each, one after another)" "${rows[@]}" | tee "$OUT/procs-report.md"
		grep -h '^#' "$OUT"/procs-*.log | sed 's/^# rtbench run //' | tee -a "$OUT/procs-report.md"
		;;
	stall)
		# Rare long stalls: three FIFO 50 Go workers side by side for 3×D: default, pinned to the last
		# CPU, and pinned with the rest of the process confined to the other CPUs at nice -20.
		d=$((3 * D))
		start_load cpu "$d"
		cyclictest -m -p50 -i1000 -h20000 -q -D"${d}s" >"$OUT/stall-cyclictest.txt" &
		p1=$!
		"$B" run -wakeup 1ms -every 1ms -d "${d}s" -out "$OUT/stall-default" >"$OUT/stall-default.log" &
		p2=$!
		"$B" run -wakeup 1ms -every 1ms -cpus "$last" -d "${d}s" -out "$OUT/stall-pinned" >"$OUT/stall-pinned.log" &
		p3=$!
		"$B" run -wakeup 1ms -every 1ms -cpus "$last" -confine -runtime-nice -20 -d "${d}s" -out "$OUT/stall-conf" >"$OUT/stall-conf.log" &
		p4=$!
		wait $p1 $p2 $p3 $p4
		stop_load
		"$B" report -title "### rare stalls (load: cpu, ${d}s, side by side)" \
			"cyclictest -p50 -i1000 (wake-up)=$OUT/stall-cyclictest.txt" \
			"Go FIFO 50 default: wake-up=$OUT/stall-default-wakeup.hist" "Go FIFO 50 default: Every delay=$OUT/stall-default-every.hist" \
			"Go FIFO 50 pinned to CPU $last: wake-up=$OUT/stall-pinned-wakeup.hist" "Go FIFO 50 pinned to CPU $last: Every delay=$OUT/stall-pinned-every.hist" \
			"Go FIFO 50 pinned + runtime confined, nice -20: wake-up=$OUT/stall-conf-wakeup.hist" \
			"Go FIFO 50 pinned + runtime confined, nice -20: Every delay=$OUT/stall-conf-every.hist" | tee "$OUT/stall-report.md"
		;;
	*)
		echo "unknown case $c" >&2
		exit 2
		;;
	esac
done
echo "results in $OUT"
