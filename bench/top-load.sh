#!/usr/bin/env bash
# What one refresh of `nsk top` costs with many containers on the host. As root.
#
#   bench/top-load.sh [N...]   for each N (ascending; default 100 500): start nsk containers
#                              (busybox `sleep`) until N of them run, then measure; at the end
#                              remove every one of them
#
# Figures per N:
#   refresh   CPU (user+sys of nsk, from /proc/PID/stat) per refresh of `top --json -i 1`,
#             over SECS seconds (default 30) after a warm-up refresh
#   core      the same run as % of one core
#   no-stream CPU of one whole `top --no-stream --json` (start-up and two samples), median of 5
#
# The containers live in a state root of their own under a temporary directory, with the cgroup
# parent nsk-test-topload-PID; only they are removed again (by nsk rm -f in that root).
# Sourced (by bench/run.sh), it only defines the load_* functions: set NSK first.
#   NSK=path/to/nsk  SECS=30
set -euo pipefail

LOAD_DIR=${LOAD_DIR:-}
LOAD_N=0

# load_init: a state root and a busybox root filesystem of their own.
load_init() {
	[ -n "$LOAD_DIR" ] && return
	LOAD_DIR=$(mktemp -d /tmp/nsk-top-load.XXXXXX)
	local r=$LOAD_DIR/rootfs a
	mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
	echo 'root:x:0:' >"$r/etc/group"
}

# procs: how many processes the host has now.
procs() {
	local p=(/proc/[0-9]*)
	echo "${#p[@]}"
}

# load_up N: start containers until N run. Stops at the first failure, saying why.
load_up() {
	load_init
	local want=$1 t0=$SECONDS free
	free=$(($(sysctl -n kernel.pid_max) - $(procs)))
	# Two processes a container (nsk's init and sleep): the PID space must hold them.
	if [ $((2 * (want - LOAD_N))) -ge "$free" ]; then
		echo "top-load: $want containers need $((2 * (want - LOAD_N))) PIDs; $free are free (kernel.pid_max)" >&2
		return 1
	fi
	while [ "$LOAD_N" -lt "$want" ]; do
		if ! "$NSK" --root "$LOAD_DIR/state" run -d --name "load$LOAD_N" \
			--cgroup-parent "nsk-test-topload-$$" --rootfs "$LOAD_DIR/rootfs" -- sleep inf \
			>/dev/null 2>"$LOAD_DIR/err"; then
			echo "top-load: container $LOAD_N did not start: $(tail -1 "$LOAD_DIR/err")" >&2
			return 1
		fi
		LOAD_N=$((LOAD_N + 1))
	done
	echo "  $LOAD_N nsk containers running (started in $((SECONDS - t0)) s; $(procs) processes on the host)"
}

# load_measure: "CPU_MS_PER_REFRESH CORE_PERCENT NO_STREAM_CPU_MS" with the containers up.
load_measure() {
	local secs=${SECS:-30} hz pid out=$LOAD_DIR/top.ndjson i s0 s1 n0 n1 t0 t1
	hz=$(getconf CLK_TCK)
	cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
	"$NSK" --root "$LOAD_DIR/state" --json top -i 1 >"$out" 2>"$LOAD_DIR/err" &
	pid=$!
	# Past start-up and the first refresh (counted from the first line on).
	for i in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
	[ -s "$out" ] || { echo "top-load: top printed nothing: $(tail -1 "$LOAD_DIR/err")" >&2; kill "$pid"; return 1; }
	s0=$(cpu "$pid") n0=$(wc -l <"$out") t0=$(date +%s.%N)
	sleep "$secs"
	s1=$(cpu "$pid") n1=$(wc -l <"$out") t1=$(date +%s.%N)
	# TERM: a background job of a script ignores INT.
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	local ns
	ns=$(for i in 1 2 3 4 5; do
		/usr/bin/time -f '%U %S' -o "$LOAD_DIR/time" "$NSK" --root "$LOAD_DIR/state" top --no-stream --json >/dev/null
		awk '{ printf "%.0f\n", ($1 + $2) * 1000 }' "$LOAD_DIR/time"
	done | sort -n | sed -n 3p)
	python3 -c "
s0, s1, n0, n1, t0, t1, hz = $s0, $s1, $n0, $n1, $t0, $t1, $hz
cpu = (s1 - s0) / hz
print(f'{cpu * 1000 / max(n1 - n0, 1):.1f} {cpu * 100 / (t1 - t0):.2f} $ns')"
}

# load_down: remove every container started here, and the directory.
load_down() {
	[ -n "$LOAD_DIR" ] || return 0
	if [ -d "$LOAD_DIR/state" ]; then
		local names=() i
		for i in $(seq 0 "$LOAD_N"); do names+=("load$i"); done
		printf '%s\n' "${names[@]}" | xargs -n 100 "$NSK" --root "$LOAD_DIR/state" rm -f >/dev/null
	fi
	LOAD_N=0
	rm -rf "$LOAD_DIR"
	LOAD_DIR=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	cd "$(dirname "$0")/.."
	[ "$(id -u)" = 0 ] || { echo "top-load: run as root" >&2; exit 1; }
	if [ -z "${NSK:-}" ]; then
		cargo build --release --locked -q
		NSK=$PWD/target/x86_64-unknown-linux-gnu/release/nsk
	fi
	trap load_down EXIT
	echo "nsk top under load: $NSK; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	for n in $(printf '%s\n' "${@:-100 500}" | tr ' ' '\n' | sort -n); do
		load_up "$n"
		read -r ms core ns < <(load_measure)
		total=$("$NSK" --root "$LOAD_DIR/state" --json top --no-stream | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["containers"]))')
		echo "  N=$n ($total containers on the host): ${ms} ms CPU per refresh, ${core}% of a core at -i 1, one --no-stream run ${ns} ms CPU"
	done
fi
