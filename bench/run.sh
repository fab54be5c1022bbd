#!/usr/bin/env bash
# Benchmark nsk against its peers in one interleaved run (this kind of VM drifts by +-30%
# between series, so only ratios measured side by side mean anything). As root.
#
#   bench/run.sh [run]      start-to-exit of busybox /bin/true with a 256M memory limit:
#                           nsk run --rm vs crun run vs runc run, plus unshare+chroot as a floor
#                           (and nsk with its state root on a tmpfs, where /tmp is on a disk)
#   bench/run.sh enter      nsk enter -T PID /bin/true vs nsenter -a vs runc exec, into a runc
#                           container; then 200 MB through a PTY: script+cat, nsk enter -t,
#                           runc exec -t (PTY_RUNS, default 3)
#   bench/run.sh ps         nsk ps --all --json vs lsns -J, with NS_SETS (500) extra namespace
#                           sets (unshare --pid --fork --uts --ipc --net --mount sleep: 2
#                           processes each), killed by PID when done
#   ROUNDS=10 RUNS=5        rounds, and runs of each command per round (order alternates)
#
# Prints per-command medians over all runs, the median of the per-round nsk/peer ratios, and
# nsk's peak RSS (GNU time). Needs hyperfine, python3, busybox-static; runc and crun are used
# when installed (crun in a private mount namespace without the cgroup2 mount on hybrid hosts,
# where it refuses to run otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root" >&2; exit 1; }
for c in hyperfine python3; do command -v $c >/dev/null || { echo "bench/run.sh: needs $c" >&2; exit 1; }; done
SCENARIO=${1:-run}
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-5}

cargo build --release --locked -q
NSK=$PWD/target/x86_64-unknown-linux-gnu/release/nsk
W=$(mktemp -d /tmp/nsk-bench.XXXXXX)
LOAD=()
cleanup() {
	# Only the unshare parents this script started (unreaped, so their PIDs cannot be reused);
	# --kill-child takes each namespaced sleep down with its parent.
	{ [ ${#LOAD[@]} -gt 0 ] && kill -KILL "${LOAD[@]}"; wait; } 2>/dev/null || true
	mountpoint -q "$W/tmpfs" 2>/dev/null && umount "$W/tmpfs"
	command -v runc >/dev/null && runc delete -f nskbench >/dev/null 2>&1 || true
	command -v runc >/dev/null && runc delete -f nskbench-sleeper >/dev/null 2>&1 || true
	for d in /sys/fs/cgroup/*/nsk-bench /sys/fs/cgroup/nsk-bench; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT

# Root filesystem: static busybox and its applets.
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"

# OCI bundle for runc and crun: same namespaces as nsk run, 256M memory limit.
B=$W/bundle
mkdir -p "$B"
if command -v runc >/dev/null; then
	(cd "$B" && runc spec)
	python3 - "$B/config.json" "$R" <<'PY'
import json, sys
p, root = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["root"] = {"path": root, "readonly": True}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["linux"]["resources"] = {"memory": {"limit": 256 << 20}}
c["linux"]["cgroupsPath"] = "/nsk-bench/peer"
json.dump(c, open(p, "w"))
PY
fi
legacy() { unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh "$@"; }
view=
if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then view=legacy; fi

names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
if [ "$SCENARIO" = enter ]; then
	command -v runc >/dev/null || { echo "bench/run.sh enter: needs runc" >&2; exit 1; }
	head -c 200000000 < <(yes 'nsk pty throughput: one line of text to copy through a terminal') > "$R/big"
	python3 - "$B/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["cgroupsPath"] = "/nsk-bench/sleeper"
json.dump(c, open(sys.argv[1], "w"))
PY
	(cd "$B" && runc run -d nskbench-sleeper </dev/null >/dev/null 2>&1)
	PID=$(runc state nskbench-sleeper | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	add nsk "$NSK --root $W/state enter -T $PID /bin/true"
	add nsenter "nsenter -t $PID -a /bin/true"
	add runc "runc exec nskbench-sleeper /bin/true"
	TITLE="exec /bin/true in a running container"
elif [ "$SCENARIO" = ps ]; then
	command -v lsns >/dev/null || { echo "bench/run.sh: needs lsns (util-linux)" >&2; exit 1; }
	n=${NS_SETS:-500}
	for i in $(seq "$n"); do
		unshare --pid --fork --kill-child --uts --ipc --net --mount sleep 1000 </dev/null >/dev/null 2>&1 &
		LOAD+=($!)
	done
	for i in $(seq 100); do [ "$(lsns -n -t uts -o NS | wc -l)" -gt "$n" ] && break; sleep 0.2; done
	echo "== load: $(ls -d /proc/[0-9]* | wc -l) processes, $(lsns -n -o NS | wc -l) namespaces"
	add nsk "$NSK --root $W/state ps --all --json"
	add lsns "lsns -J"
	add floor "stat -c %N /proc/[0-9]*/ns/* >/dev/null 2>&1 || true"
	TITLE="listing every namespace set"
	SHELL_OPT=--shell=sh # the floor command needs a shell (glob, redirection)
else
	add nsk "$NSK --root $W/state run --rm --cgroup-parent nsk-bench --rootfs $R --memory 256M -- /bin/true"
	# The same with its state root on a tmpfs, as /run (nsk's default root) is on most hosts:
	# where $W is on a disk, this row shows what the state root's filesystem costs.
	if [ "$(stat -fc %T "$W")" != tmpfs ]; then
		mkdir "$W/tmpfs" && mount -t tmpfs -o size=64m nsk-bench "$W/tmpfs"
		add nsk-tmpfs "$NSK --root $W/tmpfs/state run --rm --cgroup-parent nsk-bench --rootfs $R --memory 256M -- /bin/true"
	fi
	command -v crun >/dev/null && add crun "${view:+unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root $W/crun run -b $B nskbench'}${view:-crun --root $W/crun run -b $B nskbench}"
	command -v runc >/dev/null && add runc "runc --root $W/runc run -b $B nskbench"
	add unshare "unshare --pid --fork --uts --mount --ipc --net chroot $R /bin/true"
	TITLE="start-to-exit of /bin/true with a 256M memory limit"
fi

echo "== $TITLE: ${names[*]} (rounds $ROUNDS x $RUNS runs, interleaved)"
for r in $(seq "$ROUNDS"); do
	args=()
	order=$(seq 0 $((${#names[@]} - 1)))
	[ $((r % 2)) = 0 ] && order=$(echo "$order" | tac)
	for i in $order; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
	# Without a shell by default: for commands of a few milliseconds a shell in between only
	# adds its own start-up, the same to every side, and noise.
	if ! hyperfine ${SHELL_OPT:--N} --style none --warmup 1 --runs "$RUNS" --export-json "$W/r$r.json" "${args[@]}" >/dev/null 2>"$W/err"; then
		echo "hyperfine failed: $(tail -3 "$W/err")" >&2
		exit 1
	fi
done
python3 - "$W" "$ROUNDS" "${names[@]}" <<'PY'
import json, sys, statistics as st
d, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
alltimes = {n: [] for n in names}; ratios = {n: [] for n in names if n != "nsk"}
for r in range(1, rounds + 1):
    res = {x["command"]: x["times"] for x in json.load(open(f"{d}/r{r}.json"))["results"]}
    for n in names: alltimes[n] += res[n]
    for n in ratios: ratios[n].append(st.median(res["nsk"]) / st.median(res[n]))
for n in names:
    t = alltimes[n]
    print(f"  {n:<8} median {st.median(t)*1e3:7.2f} ms  (min {min(t)*1e3:.2f}, max {max(t)*1e3:.2f}, n={len(t)})")
for n, rs in ratios.items():
    print(f"  nsk/{n:<7} {st.median(rs):5.2f}x  (per-round {min(rs):.2f}..{max(rs):.2f})")
PY
if [ "$SCENARIO" = enter ]; then
	PTY_RUNS=${PTY_RUNS:-3}
	echo "== 200 MB through a PTY ($PTY_RUNS runs each, interleaved by hyperfine)"
	hyperfine --shell=sh --style none --runs "$PTY_RUNS" --export-json "$W/pty.json" \
		-n script "script -qfc 'cat $R/big' /dev/null >/dev/null" \
		-n nsk "script -qfc '$NSK --root $W/state enter -t $PID cat /big' /dev/null >/dev/null" \
		-n runc "script -qfc 'runc exec -t nskbench-sleeper cat /big' /dev/null >/dev/null" >/dev/null
	python3 - "$W/pty.json" <<'PY'
import json, sys, statistics as st
res = {r["command"]: st.median(r["times"]) for r in json.load(open(sys.argv[1]))["results"]}
for n, t in res.items():
    print(f"  {n:<8} median {t:6.2f} s  {200 / t:6.1f} MB/s")
print(f"  nsk/script {res['nsk'] / res['script']:.2f}x time   nsk/runc {res['nsk'] / res['runc']:.2f}x time")
PY
	if [ -x /usr/bin/time ]; then
		rss=$(for i in 1 2 3; do /usr/bin/time -f %M script -qfc "$NSK --root $W/state enter -t $PID cat /etc/passwd" /dev/null 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 2p)
		echo "  (GNU time's peak RSS above includes script itself: ${rss} KiB)"
		rss=$(for i in 1 2 3 4 5; do /usr/bin/time -f %M "$NSK" --root "$W/state" enter -T "$PID" /bin/true 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 3p)
		echo "  nsk enter peak RSS (median of 5): ${rss} KiB"
	fi
elif [ "$SCENARIO" = ps ] && [ -x /usr/bin/time ]; then
	rss=$(for i in 1 2 3 4 5; do /usr/bin/time -f %M "$NSK" --root "$W/state" ps --all --json 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 3p)
	echo "  nsk ps --all peak RSS (median of 5): ${rss} KiB"
elif [ -x /usr/bin/time ]; then
	rss=$(for i in 1 2 3 4 5; do /usr/bin/time -f %M "$NSK" --root "$W/state" run --rm --cgroup-parent nsk-bench --rootfs "$R" --memory 256M -- /bin/true 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 3p)
	echo "  nsk peak RSS (median of 5): ${rss} KiB"
fi
