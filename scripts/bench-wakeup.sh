#!/usr/bin/env bash
# The exporter as shipped beside cyclictest (issue #12): for each load case, in ONE run under the
# same load, `ec_exporter serve --ec.transport=sim --rt.wakeup-interval=1ms` (shipped defaults
# otherwise) and `cyclictest -m -p50 -i1000 -h20000 -q -D<T>`; tools/wakeupbench reads the exporter's
# cros_ec_worker_wakeup_latency_seconds and cros_ec_worker_runtime_delay_seconds (native buckets,
# protobuf) before and after (and every 5 s
# meanwhile, as a Prometheus would) and prints both at p50/p99/p99.9/max with the share beyond
# 20/50/100 µs. Cases: cpu | cpu+disk (load) × confined (the default --rt.confine-runtime) |
# unconfined (--no-rt.confine-runtime). Needs root, cyclictest (rt-tests), stress-ng.
# Usage: scripts/bench-wakeup.sh [SECONDS per case, default 60] [OUTDIR] [CASES]
#   CASES default "cpu/confined cpu/unconfined cpu+disk/confined cpu+disk/unconfined"
#   EXPORTER=path/to/ec_exporter uses that binary instead of building this tree's.
#   CT_ARGS="-a 1" adds arguments to cyclictest (e.g. pin it where the confined worker runs).
#   EXPORTER_ARGS="--rt.cpus=0" adds flags to ec_exporter serve (e.g. another CPU for the worker).
#   TRACE=1 also records, in tracefs, the worker thread's sched_waking, sched_switch and syscalls and
#   uprobes on the Go runtime's exitsyscall path (<case>-trace.txt), and prints where each wake-up's
#   time goes (wakeupbench trace). The uprobes cost a few µs per wake-up: compare tails without TRACE.
set -euo pipefail
D=${1:-60}
OUT=${2:-$(mktemp -d /tmp/bench-wakeup.XXXXXX)}
CASES=${3:-"cpu/confined cpu/unconfined cpu+disk/confined cpu+disk/unconfined"}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
if [[ -z ${EXPORTER:-} ]]; then
	go build -o "$OUT/ec_exporter" ./cmd/ec_exporter
	EXPORTER="$OUT/ec_exporter"
fi
go build -o "$OUT/wakeupbench" ./tools/wakeupbench
T=/sys/kernel/tracing
EVENTS="sched/sched_waking sched/sched_switch raw_syscalls/sys_exit raw_syscalls/sys_enter"
UPROBES="exitent exitret trygetp nop"
if [[ -n ${TRACE:-} ]]; then
	[[ -d $T/events ]] || mount -t tracefs nodev "$T"
	# what we change, to put back at exit (tracefs is shared with whoever else traces this machine)
	old_clock=$(grep -o '\[[a-z0-9-]*\]' "$T/trace_clock" | tr -d '[]') old_size=$(cut -d" " -f1 "$T/buffer_size_kb") old_on=$(cat "$T/tracing_on")
	# file offset of a runtime function: Go's text segment maps file offset 0 at 0x400000
	off() { printf '0x%x' $((0x$(go tool nm "$EXPORTER" | awk -v s="$1" '$3 == s {print $1}') - 0x400000)); }
	uprobe_defs="p:exitent $EXPORTER:$(off runtime.exitsyscall)
r:exitret $EXPORTER:$(off runtime.exitsyscall)
p:trygetp $EXPORTER:$(off runtime.exitsyscallTryGetP)
p:nop $EXPORTER:$(off runtime.exitsyscallNoP)"
fi
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	rm -rf "$OUT/disk"
	if [[ -n ${TRACE:-} && -d $T/events ]]; then
		echo 0 >"$T/tracing_on"
		for e in $(printf 'uprobes/%s ' $UPROBES); do if [[ -e $T/events/$e/enable ]]; then echo 0 >"$T/events/$e/enable"; fi; done
		echo >"$T/uprobe_events" 2>/dev/null || true
	fi
}
restore_trace() {
	if [[ -n ${TRACE:-} ]]; then
		echo "$old_clock" >"$T/trace_clock"
		echo "$old_size" >"$T/buffer_size_kb"
		echo "$old_on" >"$T/tracing_on"
	fi
}
trap 'stop_all; restore_trace' EXIT
{
	echo "# bench-wakeup $(date -u +%FT%TZ) D=${D}s exporter $("$EXPORTER" version 2>&1 | head -1)"
	echo "# $(uname -srvm); nproc $(nproc); $(cyclictest --help 2>&1 | head -1); $(stress-ng --version 2>&1 | head -1)"
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/env.txt"
for c in $CASES; do
	load=${c%/*} conf=${c#*/}
	n=${c//[\/+]/-}
	nice -n -20 stress-ng --cpu 0 --timeout "$((D + 60))s" --quiet &
	pids+=($!)
	if [[ $load == cpu+disk ]]; then
		mkdir -p "$OUT/disk"
		nice -n -20 stress-ng --hdd 2 --hdd-opts direct,fsync --hdd-bytes 256m --temp-path "$OUT/disk" \
			--timeout "$((D + 60))s" --quiet &
		pids+=($!)
	fi
	# A port nobody else's exporter holds (the machine is shared): ask the kernel for a free one.
	ADDR=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	flags=(serve --ec.transport=sim --rt.wakeup-interval=1ms --web.listen-address="$ADDR")
	[[ $conf == unconfined ]] && flags+=(--no-rt.confine-runtime)
	flags+=(${EXPORTER_ARGS:-})
	"$EXPORTER" "${flags[@]}" 2>"$OUT/$n-exporter.log" &
	ep=$!
	pids+=($ep)
	for _ in $(seq 50); do curl -fs "http://$ADDR/metrics" >/dev/null && break || sleep 0.2; done
	sleep 3 # let the load and the exporter settle
	if ! kill -0 "$ep" 2>/dev/null; then
		echo "ec_exporter exited at start:" >&2
		cat "$OUT/$n-exporter.log" >&2
		exit 1
	fi
	if [[ -n ${TRACE:-} ]]; then
		tid=$(grep -l '^ec-worker$' /proc/"$ep"/task/*/comm | cut -d/ -f5)
		echo 0 >"$T/tracing_on"
		echo mono >"$T/trace_clock"
		echo 16384 >"$T/buffer_size_kb"
		echo >"$T/trace"
		echo "$uprobe_defs" >"$T/uprobe_events"
		echo "pid==$tid" >"$T/events/sched/sched_waking/filter"
		echo "next_pid==$tid || prev_pid==$tid" >"$T/events/sched/sched_switch/filter"
		for e in raw_syscalls/sys_exit raw_syscalls/sys_enter $(printf 'uprobes/%s ' $UPROBES); do echo "common_pid==$tid" >"$T/events/$e/filter"; done
		for e in $EVENTS $(printf 'uprobes/%s ' $UPROBES); do echo 1 >"$T/events/$e/enable"; done
		echo 1 >"$T/tracing_on"
	fi
	"$OUT/wakeupbench" -url "http://$ADDR/metrics" -case "load $load, runtime $conf ($(date -u +%T))" -save "$OUT/$n-cyclictest.txt" \
		-- cyclictest -m -p50 -i1000 -h20000 -q ${CT_ARGS:-} -D"${D}s" | tee "$OUT/$n-report.md"
	if [[ -n ${TRACE:-} ]]; then
		echo 0 >"$T/tracing_on"
		cp "$T/trace" "$OUT/$n-trace.txt"
		for e in $EVENTS $(printf 'uprobes/%s ' $UPROBES); do
			echo 0 >"$T/events/$e/enable"
			echo 0 >"$T/events/$e/filter"
		done
		echo >"$T/uprobe_events"
		echo "# worker tid $tid, trace in $OUT/$n-trace.txt ($(grep -c . "$OUT/$n-trace.txt") lines)" | tee -a "$OUT/$n-report.md"
		"$OUT/wakeupbench" trace "$OUT/$n-trace.txt" | tee -a "$OUT/$n-report.md"
	fi
	echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); exporter: $(grep -o 'EC worker thread.*' "$OUT/$n-exporter.log" | head -1)" | tee -a "$OUT/$n-report.md"
	stop_all
done
echo "results in $OUT"
