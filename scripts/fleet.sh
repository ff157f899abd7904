#!/usr/bin/env bash
# A fleet of simulated devices on this machine, shipped to a central store (docs/fleet.md).
#
#   scripts/fleet.sh up N       start N `ec_exporter serve` (one simulated EC each, own loopback
#                               port), one Prometheus per site scraping them through the file_sd job
#                               of examples/prometheus/prometheus.yml and shipping through
#                               examples/prometheus/remote_write.yml (its filter) to the central
#                               stores; returns when everything answers
#   scripts/fleet.sh run N      the same in the foreground; Ctrl-C (or any exit) brings it all down
#   scripts/fleet.sh down       stop everything `up` started; fails if a process or port is left
#   scripts/fleet.sh restart I [serve flags...]
#                               restart device I (0-based) with extra serve flags, e.g.
#                               --sim.fault.checksum=0.05 (the moment a device starts failing)
#   scripts/fleet.sh status     what runs, and where
#   scripts/fleet.sh alerts     the active alerts of both central stores, one a line
#   scripts/fleet.sh stats [S]  CPU and RSS per kind of process over S seconds (60), series, samples/s
#
# Devices (index i, 0-based) differ by default, overridable by listing indices:
#   firmware  FLEET_VERSIONS (space-separated, default "fleet_v2.0.100-a fleet_v2.0.200-b fleet_v2.0.300-c"),
#             device i runs version i mod count
#   failing   FLEET_FAIL (default: the devices on the 2nd version whose i mod 10 is 1 or 4) fail
#             FLEET_FAIL_RATE (default 0.05) of their commands (response checksum errors)
#   flaky     FLEET_FLAKY (default: i mod 10 == 7) answer NOT_READY FLEET_FLAKY_RATE (0.05) of the
#             time; the retries hide it, the commands succeed
#   other     FLEET_OTHER (default: i mod 5 == 2) run their worker with --rt.policy=other
#   all devices fail FLEET_BACKGROUND (default 0) of their commands on top (background noise)
# Other settings: FLEET_DIR (/tmp/ec-fleet), FLEET_PORT (19100: central Prometheus; +1 VictoriaMetrics,
# +2 vmalert, +10.. site Prometheus, +100.. devices), FLEET_SITES (2), FLEET_SCRAPE (15s),
# FLEET_AGENT_SITES (site numbers that run Prometheus in agent mode, default none),
# FLEET_EVAL (15s), FLEET_PROBE_INTERVAL (1s), FLEET_CENTRAL ("prometheus victoriametrics"),
# FLEET_RULES (rule files for the central side, default alerts/recording.yml alerts/alerts.yml),
# FLEET_EXPORTER (a built ec_exporter; default: go build), FLEET_SERVE_FLAGS (more serve flags for all;
# with FLEET_PROBE_INTERVAL below 500ms add a --probe.timeout below it).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
DIR=${FLEET_DIR:-/tmp/ec-fleet}
PORT=${FLEET_PORT:-19100}
SITES=${FLEET_SITES:-2}
AGENT_SITES=${FLEET_AGENT_SITES:-}
SCRAPE=${FLEET_SCRAPE:-15s}
EVAL=${FLEET_EVAL:-15s}
PROBE=${FLEET_PROBE_INTERVAL:-1s}
CENTRAL=${FLEET_CENTRAL:-prometheus victoriametrics}
RULES=${FLEET_RULES:-$repo/alerts/recording.yml $repo/alerts/alerts.yml}
read -r -a VERSIONS <<<"${FLEET_VERSIONS:-fleet_v2.0.100-a fleet_v2.0.200-b fleet_v2.0.300-c}"

die() { echo "fleet.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install $2"; }

# listed LIST I: is index I in the space-separated LIST?
listed() { [[ " $1 " == *" $2 "* ]]; }

# spawn NAME CMD...: start CMD in the background, output to $DIR/log/NAME.log, pid to $DIR/pids/NAME.
spawn() {
	local name=$1; shift
	"$@" >"$DIR/log/$name.log" 2>&1 &
	echo $! >"$DIR/pids/$name"
}

# wait_http URL NAME: until URL answers 200 (30 s), or fail naming the log to read.
wait_http() {
	for _ in $(seq 300); do
		curl -sf -o /dev/null "$1" && return 0
		local pid; pid=$(cat "$DIR/pids/$2")
		kill -0 "$pid" 2>/dev/null || die "$2 exited; see $DIR/log/$2.log: $(tail -3 "$DIR/log/$2.log")"
		sleep 0.1
	done
	die "$2 did not answer $1 within 30 s; see $DIR/log/$2.log"
}

# pick N EXPR: the indices j < N for which the arithmetic EXPR holds (nv: number of versions).
pick() {
	local j nv=${#VERSIONS[@]}
	for ((j = 0; j < $1; j++)); do
		if (($2)); then echo -n "$j "; fi
	done
}

device_flags() { # device_flags I N: the serve flags of device I of N, into the array DEV_FLAGS
	local i=$1 n=$2 v=${VERSIONS[$(($1 % ${#VERSIONS[@]}))]}
	local fail=${FLEET_FAIL-} flaky=${FLEET_FLAKY-} other=${FLEET_OTHER-}
	if [ -z "${FLEET_FAIL+x}" ]; then fail=$(pick "$n" 'j % nv == 1 && (j % 10 == 1 || j % 10 == 4)'); fi
	if [ -z "${FLEET_FLAKY+x}" ]; then flaky=$(pick "$n" 'j % 10 == 7'); fi
	if [ -z "${FLEET_OTHER+x}" ]; then other=$(pick "$n" 'j % 5 == 2'); fi
	local checksum=${FLEET_BACKGROUND:-0} profile=healthy policy=fifo
	if listed "$fail" "$i"; then checksum=${FLEET_FAIL_RATE:-0.05}; profile=failing; fi
	DEV_FLAGS=(serve --ec.transport=sim --ec.device=ec --web.listen-address="127.0.0.1:$((PORT + 100 + i))"
		--probe.interval="$PROBE" --sim.seed=$((i + 1)) --sim.fault.checksum="$checksum"
		--sim.identity.version-rw="$v" --sim.identity.build-info="$v fleet" --sim.identity.fwid-rw="${v#fleet_}")
	if listed "$flaky" "$i"; then DEV_FLAGS+=(--sim.fault.not-ready="${FLEET_FLAKY_RATE:-0.05}"); [ $profile = healthy ] && profile=flaky; fi
	if listed "$other" "$i"; then DEV_FLAGS+=(--rt.policy=other); policy=other; fi
	# The manifest: what the test (or you) can check the central side against.
	printf '%d\t127.0.0.1:%d\tsite-%d\t%s\t%s\t%s\n' "$i" $((PORT + 100 + i)) $((i % SITES)) "$v" "$profile" "$policy" >>"$DIR/devices.tsv"
	# shellcheck disable=SC2206 # FLEET_SERVE_FLAGS is a list of flags
	DEV_FLAGS+=(${FLEET_SERVE_FLAGS:-})
}

site_config() { # site_config S: Prometheus config of site S, from the examples
	local s=$1
	cat <<EOF
global:
  scrape_interval: $SCRAPE
  external_labels:
    site: site-$s
scrape_configs:
EOF
	# The file_sd job of examples/prometheus/prometheus.yml, pointed at this site's target files.
	awk '/^  - job_name: cros_ec_fleet/ {on = 1} on && /^  - job_name:/ && !/cros_ec_fleet/ {on = 0} on && !/^ *#/ && NF' \
		"$repo/examples/prometheus/prometheus.yml" | sed "s#/etc/prometheus/file_sd/#$DIR/site-$s/file_sd/#; s#refresh_interval: 1m#refresh_interval: 5s#"
	echo "remote_write:"
	# examples/prometheus/remote_write.yml (its write_relabel_configs filter) once per central store,
	# with the URL replaced and the authentication left out (loopback).
	local url
	for c in $CENTRAL; do
		case $c in
		prometheus) url=http://127.0.0.1:$PORT/api/v1/write ;;
		victoriametrics) url=http://127.0.0.1:$((PORT + 1))/api/v1/write ;;
		*) die "FLEET_CENTRAL: unknown store $c (prometheus, victoriametrics)" ;;
		esac
		sed -n '/^remote_write:/,$p' "$repo/examples/prometheus/remote_write.yml" | sed '1d; /^ *#/d; /basic_auth:/d; /username:/d; /password_file:/d' |
			sed "s#url: .*#url: $url#"
		echo "    queue_config: {batch_send_deadline: 1s}"
	done
}

up() {
	local n=${1:-}
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "usage: fleet.sh up N (N devices, e.g. 10)"
	[ -e "$DIR/pids" ] && [ -n "$(ls -A "$DIR/pids" 2>/dev/null)" ] && die "a fleet already runs from $DIR (fleet.sh down first)"
	need prometheus prometheus
	for c in $CENTRAL; do [ "$c" = victoriametrics ] && need victoria-metrics victoria-metrics && need vmalert victoria-metrics; done
	rm -rf "$DIR"
	mkdir -p "$DIR"/{pids,log,central-prom,vm,bin}
	local exe=${FLEET_EXPORTER:-}
	if [ -z "$exe" ]; then
		exe=$DIR/bin/ec_exporter
		(cd "$repo" && go build -o "$exe" ./cmd/ec_exporter)
	fi
	: >"$DIR/devices.tsv"
	echo "$n" >"$DIR/n"
	# What the other commands need to find this fleet again without the same environment.
	declare -p PORT SITES AGENT_SITES PROBE VERSIONS CENTRAL >"$DIR/env"
	for v in FLEET_FAIL FLEET_FLAKY FLEET_OTHER FLEET_FAIL_RATE FLEET_FLAKY_RATE FLEET_BACKGROUND FLEET_SERVE_FLAGS; do
		if [ -n "${!v+x}" ]; then declare -p "$v" >>"$DIR/env"; fi
	done

	# Central side first, so that the sites' first samples land.
	for c in $CENTRAL; do
		case $c in
		prometheus)
			{
				echo "global: {evaluation_interval: $EVAL}"
				echo "rule_files:"
				for r in $RULES; do echo "  - $r"; done
			} >"$DIR/central-prom/prometheus.yml"
			spawn central-prometheus prometheus --config.file="$DIR/central-prom/prometheus.yml" \
				--storage.tsdb.path="$DIR/central-prom/data" --web.listen-address="127.0.0.1:$PORT" \
				--web.enable-remote-write-receiver
			wait_http "http://127.0.0.1:$PORT/-/ready" central-prometheus
			;;
		victoriametrics)
			spawn victoria-metrics victoria-metrics -storageDataPath="$DIR/vm/data" -httpListenAddr="127.0.0.1:$((PORT + 1))" \
				-search.latencyOffset=1s -search.cacheTimestampOffset=1s
			wait_http "http://127.0.0.1:$((PORT + 1))/health" victoria-metrics
			local rules=()
			for r in $RULES; do rules+=(-rule="$r"); done
			# vmalert evaluates the same rule files against VictoriaMetrics and writes the recorded
			# series back. -datasource.queryStep stays at its default 5m: it is the lookback of plain
			# selectors (Prometheus' 5m lookback delta); at the evaluation interval a recorded series
			# written a moment late reads as absent. This vmalert release has no -notifier.blackhole:
			# notifications go to a port nothing listens on (logged failures); alert state is read
			# from vmalert's API.
			spawn vmalert vmalert "${rules[@]}" -datasource.url="http://127.0.0.1:$((PORT + 1))" \
				-remoteWrite.url="http://127.0.0.1:$((PORT + 1))" -evaluationInterval="$EVAL" \
				-notifier.url="http://127.0.0.1:$((PORT + 3))" -httpListenAddr="127.0.0.1:$((PORT + 2))"
			wait_http "http://127.0.0.1:$((PORT + 2))/-/healthy" vmalert
			;;
		*) die "FLEET_CENTRAL: unknown store $c (prometheus, victoriametrics)" ;;
		esac
	done

	# Devices: one exporter per simulated EC.
	local i
	for ((i = 0; i < n; i++)); do
		device_flags "$i" "$n"
		spawn "device-$i" "$exe" "${DEV_FLAGS[@]}"
	done
	echo "$exe" >"$DIR/exe"
	for ((i = 0; i < n; i++)); do wait_http "http://127.0.0.1:$((PORT + 100 + i))/metrics" "device-$i"; done

	# Sites: each scrapes its devices (file_sd, the format of examples/prometheus/file_sd/) and ships them.
	local s
	for ((s = 0; s < SITES; s++)); do
		mkdir -p "$DIR/site-$s/file_sd"
		awk -F'\t' -v site="site-$s" 'BEGIN {printf "["} $3 == site {printf "%s\n  {\"targets\": [\"%s\"], \"labels\": {\"board\": \"sim\", \"pool\": \"%s\"}}", sep, $2, site; sep = ","} END {print "\n]"}' \
			"$DIR/devices.tsv" >"$DIR/site-$s/file_sd/cros_ec_site.json"
		site_config "$s" >"$DIR/site-$s/prometheus.yml"
		local mode=(--storage.tsdb.path="$DIR/site-$s/data")
		# A site in agent mode (examples/prometheus/agent.yml: the path for devices behind NAT).
		if listed "$AGENT_SITES" "$s"; then mode=(--enable-feature=agent --storage.agent.path="$DIR/site-$s/wal"); fi
		spawn "site-$s" prometheus --config.file="$DIR/site-$s/prometheus.yml" "${mode[@]}" \
			--web.listen-address="127.0.0.1:$((PORT + 10 + s))"
	done
	for ((s = 0; s < SITES; s++)); do wait_http "http://127.0.0.1:$((PORT + 10 + s))/-/ready" "site-$s"; done
	status
}

status() {
	[ -d "$DIR/pids" ] || die "no fleet in $DIR"
	local name pid alive=0 dead=0
	for f in "$DIR"/pids/*; do
		[ -e "$f" ] || continue
		name=${f##*/}; pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then alive=$((alive + 1)); else dead=$((dead + 1)); echo "not running: $name (see $DIR/log/$name.log)"; fi
	done
	echo "fleet in $DIR: $alive processes running, $dead exited"
	echo "central Prometheus http://127.0.0.1:$PORT  VictoriaMetrics http://127.0.0.1:$((PORT + 1))  vmalert http://127.0.0.1:$((PORT + 2))  sites http://127.0.0.1:$((PORT + 10))..  devices http://127.0.0.1:$((PORT + 100))..; manifest $DIR/devices.tsv"
}

restart() {
	local i=${1:-}; shift || true
	[[ $i =~ ^[0-9]+$ ]] && [ -e "$DIR/pids/device-$i" ] || die "usage: fleet.sh restart I [serve flags] (I: a running device index)"
	local pid; pid=$(cat "$DIR/pids/device-$i")
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	# The device's own flags (its manifest line written anew), then the extra ones.
	sed -i "/^$i\t/d" "$DIR/devices.tsv"
	device_flags "$i" "$(cat "$DIR/n")"
	spawn "device-$i" "$(cat "$DIR/exe")" "${DEV_FLAGS[@]}" "$@"
	wait_http "http://127.0.0.1:$((PORT + 100 + i))/metrics" "device-$i"
}

# promq URL QUERY: the first value of an instant query (empty if none).
promq() {
	curl -s "$1/api/v1/query" --data-urlencode "query=$2" |
		sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p' | head -1
}

# metric URL NAME: the sum of a metric's samples on a /metrics page.
metric() { curl -s "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%.0f", s}'; }

# stats SECONDS: CPU (share of one core) and RSS per kind of process over SECONDS, series, samples/s.
stats() {
	local secs=${1:-60} hz f name pid
	hz=$(getconf CLK_TCK)
	declare -A t0 kind
	for f in "$DIR"/pids/*; do
		name=${f##*/}; pid=$(cat "$f")
		t0[$pid]=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		kind[$pid]=${name%%-[0-9]*}
	done
	local site=http://127.0.0.1:$((PORT + 10)) central=http://127.0.0.1:$PORT vm=http://127.0.0.1:$((PORT + 1))
	local shipped0 scraped0
	shipped0=$(metric "$site" prometheus_remote_storage_samples_total)
	scraped0=$(metric "$site" prometheus_tsdb_head_samples_appended_total)
	sleep "$secs"
	declare -A cpu rss cnt
	for pid in "${!t0[@]}"; do
		local k=${kind[$pid]} t1
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat") || continue
		cpu[$k]=$((${cpu[$k]:-0} + t1 - ${t0[$pid]}))
		rss[$k]=$((${rss[$k]:-0} + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
		cnt[$k]=$((${cnt[$k]:-0} + 1))
	done
	echo "over ${secs}s (CPU in % of one core; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)):"
	for k in "${!cnt[@]}"; do
		awk -v k="$k" -v n="${cnt[$k]}" -v c="${cpu[$k]}" -v r="${rss[$k]}" -v hz="$hz" -v s="$secs" \
			'BEGIN {printf "  %-20s x%-4d CPU %7.2f %% (%.3f %% each)  RSS %8.1f MiB (%.1f MiB each)\n", k, n, c / hz / s * 100, c / hz / s * 100 / n, r / 1024, r / 1024 / n}'
	done
	local devs
	devs=$(awk -F'\t' '$3 == "site-0"' "$DIR/devices.tsv" | wc -l)
	echo "  site-0 ($devs devices): $(metric "$site" prometheus_tsdb_head_series) head series;" \
		"appended $(( ($(metric "$site" prometheus_tsdb_head_samples_appended_total) - scraped0) / secs )) samples/s," \
		"shipped $(( ($(metric "$site" prometheus_remote_storage_samples_total) - shipped0) / secs )) samples/s over all stores"
	[ -e "$DIR/pids/central-prometheus" ] && echo "  central Prometheus: $(metric "$central" prometheus_tsdb_head_series) head series"
	[ -e "$DIR/pids/victoria-metrics" ] && echo "  VictoriaMetrics: $(curl -s "$vm/api/v1/series/count" | sed 's/.*"data":\[\([0-9]*\)\].*/\1/') series"
	return 0
}

# alerts: one line per active alert on each central store: store, state, since, name, severity, instance.
alerts() {
	need jq jq
	local s
	for s in central-prometheus:$PORT vmalert:$((PORT + 2)); do
		[ -e "$DIR/pids/${s%%:*}" ] || continue
		curl -s "http://127.0.0.1:${s##*:}/api/v1/alerts" | jq -r --arg store "${s%%:*}" \
			'(.data.alerts // [])[] | [$store, .state, .activeAt, .labels.alertname, .labels.severity, .labels.instance] | join(" ")'
	done
}

down() {
	[ -d "$DIR/pids" ] || return 0
	local pids=() f
	for f in "$DIR"/pids/*; do [ -e "$f" ] && pids+=("$(cat "$f")"); done
	[ ${#pids[@]} -eq 0 ] && return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for _ in $(seq 100); do
		local left=0 p
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
		[ $left = 0 ] && break
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
	for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
	rm -f "$DIR"/pids/*
	# Nothing of ours may still listen (a connect to each port must fail).
	local n p bound=""
	n=$(cat "$DIR/n" 2>/dev/null || echo 0)
	for p in $PORT $((PORT + 1)) $((PORT + 2)) $(seq $((PORT + 10)) $((PORT + 9 + SITES))) $(seq $((PORT + 100)) $((PORT + 99 + n))); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then bound+=" $p"; fi
	done
	[ -z "$bound" ] || die "ports still bound after down:$bound"
}

# Every command but up works on the fleet as up started it.
if [ "${1:-}" != up ] && [ "${1:-}" != run ] && [ -e "$DIR/env" ]; then
	# shellcheck disable=SC1091
	. "$DIR/env"
fi

case ${1:-} in
up)
	shift
	trap 'down' EXIT # a failed start leaves nothing behind
	up "$@"
	trap - EXIT
	;;
run)
	shift
	napper=
	trap 'down; [ -z "$napper" ] || kill "$napper" 2>/dev/null || true' EXIT
	trap 'exit 130' INT TERM
	up "$@"
	echo "fleet.sh: running; Ctrl-C (or SIGTERM) brings the fleet down"
	while :; do
		sleep 3600 &
		napper=$!
		wait $napper || true # a trapped signal interrupts wait, not a foreground sleep
	done
	;;
down) down ;;
restart) shift; restart "$@" ;;
status) status ;;
stats) shift; stats "$@" ;;
alerts) alerts ;;
*) die "usage: fleet.sh up N | run N | down | restart I [flags] | status | stats [S] | alerts (see the top of this file)" ;;
esac
