#!/usr/bin/env bash
# Benchmark nsk against its peers, interleaved (a shared VM drifts by +-30% between series, so
# only ratios measured side by side mean anything). As root.
#
#   bench/run.sh [run]   start-to-exit of busybox /bin/true with a 256M memory limit: nsk run --rm
#                        against crun run (and runc run, unshare+chroot as a floor), with both
#                        state roots on the disk of this directory, then both on a tmpfs
#   bench/run.sh enter   nsk enter -T PID /bin/true against nsenter -a (and runc exec), into a
#                        runc container
#   bench/run.sh pty     100 MB through a PTY under script: script+cat, nsk enter -t, runc exec -t,
#                        and a script inside script (two PTY hops with script's proxy on both);
#                        CPU per MB per PTY hop
#   bench/run.sh ps      nsk ps --host --json against lsns -J with NS_SETS (300) extra namespace
#                        sets (unshare --pid --fork --uts --ipc --net --mount sleep), killed by PID
#   bench/run.sh cp      PTY_MB out of a runc container against nsenter cat; CP_MB (1 GiB) out of
#                        an nsk container's bind volume against host cp and docker cp, same disk
#                        (dockerd and containerd are started for the run when they are not up)
#   bench/run.sh top     one refresh of nsk top --no-stream against systemd-cgtop -n 1 and docker
#                        stats --no-stream with TOP_N (100) nsk containers up (bench/top-load.sh);
#                        nsk's CPU per refresh at -i 1 with TOP_N and 500 containers
#   bench/run.sh budgets this build against BASE (a git revision, built here in a scratch
#                        folder): release binary size, peak RSS of run and enter, and image import
#                        of a plain and a gzip root filesystem tarball (IMPORT_MB, 64)
#   bench/run.sh all     every scenario, then bench/RESULTS.md and bench/ratios.svg
#   ROUNDS=10 RUNS=5     rounds, and runs of each command per round (order alternates per round)
#   RUN_ROUNDS=30 RUN_RUNS=10  the same for run's main series (each run takes milliseconds, and
#                        the spread between rounds on a shared VM is wider than the goal's margin)
#   PTY_ROUNDS=10 PTY_MB=100 NS_SETS=300 CP_MB=1024 CP_ROUNDS=4 CP_RUNS=3 TOP_N=100 TOP_SECS=20
#   IMPORT_MB=64 BASE=0e85a21
#
# Fairness: crun is started directly (`crun --root DIR run --bundle B`) by hyperfine, and on a
# hybrid cgroup host (where crun refuses to run otherwise) hyperfine itself, with every command
# of the series, runs in one private mount namespace without the cgroup2 mount: no per-run
# unshare, shell or umount on crun's side. crun's --root is on the same filesystem as nsk's state
# root. Same namespaces (pid, net, ipc, uts, mnt, cgroup) and the same 256M memory limit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root" >&2; exit 1; }
for c in hyperfine python3; do command -v $c >/dev/null || { echo "bench/run.sh: needs $c" >&2; exit 1; }; done
SCENARIO=${1:-run}
case $SCENARIO in run | enter | pty | ps | cp | top | budgets | all) ;; *)
	sed -n '2,30p' "$0" >&2
	exit 2
	;;
esac
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-5}
RUN_ROUNDS=${RUN_ROUNDS:-30}
RUN_RUNS=${RUN_RUNS:-10}
PTY_ROUNDS=${PTY_ROUNDS:-10}
PTY_MB=${PTY_MB:-100}
NS_SETS=${NS_SETS:-300}
IMPORT_MB=${IMPORT_MB:-64}
# The last revision before nsk's library was regrouped (exec, process handle, cgroup interface)
# and its hand-written SHA-256 and decompression were replaced by crates.
BASE=${BASE:-0e85a21}
T0=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

cargo build --release --locked -q
W=$(mktemp -d /tmp/nsk-bench.XXXXXX)
# nsk runs from an installed copy, as its peers run from /usr/bin: the file the linker wrote in
# target/ costs every start more page faults (about 16 more for enter, some 5-10% of its time)
# than a copy of it does.
install -D -m 0755 target/x86_64-unknown-linux-gnu/release/nsk "$W/bin/nsk"
NSK=$W/bin/nsk
LOAD=()
cleanup() {
	# The containers of the top scenario, by name in their own state root.
	if declare -F load_down >/dev/null; then load_down || true; fi
	# Only the unshare parents this script started (unreaped, so their PIDs cannot be reused);
	# --kill-child takes each namespaced sleep down with its parent.
	{ [ ${#LOAD[@]} -gt 0 ] && kill -KILL "${LOAD[@]}"; wait; } 2>/dev/null || true
	if command -v runc >/dev/null; then
		runc delete -f nskbench >/dev/null 2>&1 || true
		runc delete -f nskbench-sleeper >/dev/null 2>&1 || true
	fi
	[ -n "${CP_NSK:-}" ] && "$NSK" --root "$W/state" rm -f "$CP_NSK" >/dev/null 2>&1
	[ -n "${CP_DOCKER:-}" ] && docker rm -f "$CP_DOCKER" >/dev/null 2>&1
	[ -n "${CP_IMAGE:-}" ] && docker rmi "$CP_IMAGE" >/dev/null 2>&1
	mountpoint -q "$W/tmpfs" 2>/dev/null && umount "$W/tmpfs"
	# The daemons docker_up started (by PID), after their containers are gone.
	[ -d "$W/rt" ] && tests/runtimes.sh stop "$W/rt"
	for d in /sys/fs/cgroup/*/nsk-bench* /sys/fs/cgroup/nsk-bench*; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT
# The docker rows need dockerd: where docker is installed and its daemon is not up, containerd
# and dockerd are started for this run (tests/runtimes.sh: no network setup, stopped at the end).
docker_up() {
	docker version >/dev/null 2>&1 && return 0
	command -v dockerd >/dev/null || return 1
	[ -d "$W/rt" ] || tests/runtimes.sh daemons "$W/rt" >&2 || return 1
	docker version >/dev/null 2>&1
}
ROWS=$W/rows.tsv
NOTES=$W/notes.txt
: >"$ROWS"
: >"$NOTES"
note() { echo "  $*"; echo "$*" >>"$NOTES"; }

# Root filesystem: static busybox and its applets.
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"

# crun refuses hybrid cgroups unless the cgroup2 mount is out of its sight: `view` runs a command
# (hyperfine, once per series) in a private mount namespace without it.
legacy() { unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh "$@"; }
view=
if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then view=legacy; fi

# OCI bundle for runc and crun: nsk run's namespaces, 256M memory limit.
B=$W/bundle
bundle() { # bundle ARGS_JSON CGROUP
	mkdir -p "$B"
	[ -f "$B/config.json" ] || (cd "$B" && runc spec)
	python3 - "$B/config.json" "$R" "$1" "$2" <<'PY'
import json, sys
p, root, args, cg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
c = json.load(open(p))
c["root"] = {"path": root, "readonly": True}
c["process"]["args"] = args
c["process"]["terminal"] = False
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
c["linux"]["resources"] = {"memory": {"limit": 256 << 20}}
c["linux"]["cgroupsPath"] = cg
json.dump(c, open(p, "w"))
PY
}

# series TAG NAME CMD [NAME CMD]...  ROUNDS x RUNS, order reversed every other round; JSON per
# round in $W/TAG.rN.json. VIEW=1 runs hyperfine in crun's view; SH=1 through /bin/sh; PREP=CMD
# runs before every run of every command (hyperfine --prepare).
series() {
	local tag=$1 r i order
	shift
	local names=() cmds=()
	while [ $# -gt 0 ]; do names+=("$1") cmds+=("$2") && shift 2; done
	local rounds=${SROUNDS:-$ROUNDS} runs=${SRUNS:-$RUNS} shellopt=-N v=
	[ "${SH:-0}" = 1 ] && shellopt=--shell=sh
	[ "${VIEW:-0}" = 1 ] && v=$view
	for r in $(seq "$rounds"); do
		local args=()
		order=$(seq 0 $((${#names[@]} - 1)))
		[ $((r % 2)) = 0 ] && order=$(echo "$order" | tac)
		for i in $order; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
		local prep=()
		[ -n "${PREP:-}" ] && prep=(--prepare "$PREP")
		if ! $v hyperfine $shellopt "${prep[@]}" --style none --warmup "${WARM:-1}" --runs "$runs" \
			--export-json "$W/$tag.r$r.json" "${args[@]}" >/dev/null 2>"$W/err"; then
			echo "hyperfine failed: $(tail -3 "$W/err")" >&2
			exit 1
		fi
	done
	echo "$rounds" >"$W/$tag.rounds"
}

# report TAG SPEC...  medians of every command of TAG, and one table row per SPEC:
#   "scenario|work|nsk name|peer name|peer label|goal ratio or -"
report() {
	python3 - "$W" "$1" "$ROWS" "${@:2}" <<'PY'
import json, sys, statistics as st
d, tag, rows, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rounds = int(open(f"{d}/{tag}.rounds").read())
res = [{x["command"]: x for x in json.load(open(f"{d}/{tag}.r{r}.json"))["results"]} for r in range(1, rounds + 1)]
names = list(res[0])
allt = {n: sum((r[n]["times"] for r in res), []) for n in names}
for n in sorted(names):
    t = allt[n]
    print(f"  {n:<12} median {st.median(t)*1e3:9.2f} ms  (min {min(t)*1e3:.2f}, max {max(t)*1e3:.2f}, n={len(t)})")
with open(rows, "a") as out:
    for spec in specs:
        scen, work, a, b, label, goal = spec.split("|")
        rs = [st.median(r[a]["times"]) / st.median(r[b]["times"]) for r in res]
        ratio = st.median(rs)
        met = "-" if goal == "-" else ("yes" if ratio <= float(goal) else "no")
        print(f"  {a}/{b}: {ratio:.2f}x (per round {min(rs):.2f}..{max(rs):.2f})  goal {goal}  met: {met}")
        out.write("\t".join([scen, work, f"{st.median(allt[a])*1e3:.2f} ms", label,
                             f"{st.median(allt[b])*1e3:.2f} ms", f"{ratio:.2f}", f"{min(rs):.2f}",
                             f"{max(rs):.2f}", goal, met]) + "\n")
PY
}

# rss NAME CMD...  GNU time's peak RSS (KiB), median of 5 runs.
rss() {
	local i tmp
	tmp=$(mktemp -p "$W")
	for i in 1 2 3 4 5; do
		${RSS_VIEW:-} /usr/bin/time -f %M -o "$tmp" "$@" >/dev/null 2>&1 </dev/null || true
		tail -1 "$tmp"
	done | sort -n | sed -n 3p
}
# rss_row SCENARIO WORK NSK_KIB PEER_LABEL PEER_KIB  (goal: at most 3 MiB)
rss_row() {
	local met=no
	[ "$3" -le 3072 ] && met=yes
	printf '%s\t%s\t%s KiB\t%s\t%s KiB\t%s\t-\t-\t3 MiB\t%s\n' "$1" "$2" "$3" "$4" "$5" \
		"$(python3 -c "print(f'{$3/$5:.2f}')")" "$met" >>"$ROWS"
	echo "  peak RSS: nsk $3 KiB, $4 $5 KiB (goal: nsk at most 3072 KiB: $met)"
}

# parent_up NAME: the cgroup NAME in every hierarchy, as a host's parent slice is there before
# its containers. crun never removes the parent it makes, nsk removes the ones it made when
# their last container goes: made here first, it is the same for both.
parent_up() {
	local d
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p "/sys/fs/cgroup/$1"
		for c in $(cat /sys/fs/cgroup/cgroup.subtree_control); do
			echo "+$c" >"/sys/fs/cgroup/$1/cgroup.subtree_control" 2>/dev/null || true
		done
		return
	fi
	for d in /sys/fs/cgroup/*/; do
		[ "$(stat -fc %T "$d")" = cgroupfs ] || continue
		mkdir -p "$d$1"
		if [ -f "$d$1/cpuset.cpus" ]; then
			cat "${d}cpuset.cpus" >"$d$1/cpuset.cpus"
			cat "${d}cpuset.mems" >"$d$1/cpuset.mems"
		fi
	done
}

scenario_run() {
	local tm=$W/tmpfs S=(--rm --cgroup-parent nsk-bench --rootfs "$R" --memory 256M -- /bin/true)
	echo "== run: start-to-exit of /bin/true, 256M memory limit (rounds $RUN_ROUNDS x $RUN_RUNS runs)"
	bundle '["/bin/true"]' /nsk-bench/peer
	parent_up nsk-bench
	mkdir -p "$tm"
	[ "$(stat -fc %T "$W")" != tmpfs ] && mount -t tmpfs -o size=64m,mode=0700 nsk-bench "$tm"
	local c=() t=()
	command -v crun >/dev/null || note "run: crun is not installed; no crun rows"
	command -v crun >/dev/null && c=(crun "crun --root $W/crun run --bundle $B nskbench")
	command -v crun >/dev/null && t=(crun-tmpfs "crun --root $tm/crun run --bundle $B nskbench")
	SROUNDS=$RUN_ROUNDS SRUNS=$RUN_RUNS VIEW=1 series run nsk "$NSK --root $W/state run ${S[*]}" "${c[@]}" \
		nsk-tmpfs "$NSK --root $tm/state run ${S[*]}" "${t[@]}" \
		nsk-parent "$NSK --root $W/state run --rm --cgroup-parent nsk-bench-own ${S[*]:3}" \
		unshare "unshare --pid --fork --uts --mount --ipc --net --cgroup chroot $R /bin/true"
	local specs=()
	if command -v crun >/dev/null; then
		specs+=("run|run --rm --rootfs R --memory 256M /bin/true (state roots on disk)|nsk|crun|crun run --bundle B|0.5"
			"run|the same, state roots on a tmpfs|nsk-tmpfs|crun-tmpfs|crun run --bundle B|0.5")
	fi
	specs+=("run|run, against unshare+chroot (no overlay, limits or state)|nsk|unshare|unshare -pfumin --cgroup chroot|-"
		"run|run with a cgroup parent nsk makes and removes each time, against run under one that is there|nsk-parent|nsk|nsk run, parent there|-")
	report run "${specs[@]}"
	if command -v runc >/dev/null; then
		# runc needs no view; its own series, interleaved with nsk.
		SROUNDS=$(((ROUNDS + 1) / 2)) series run-runc nsk "$NSK --root $W/state run ${S[*]}" runc "runc --root $W/runc run --bundle $B nskbench"
		report run-runc "run|run, against runc (state roots on disk)|nsk|runc|runc run --bundle B|-"
	fi
	local n p=0
	n=$(rss "$NSK" --root "$W/state" run "${S[@]}")
	command -v crun >/dev/null && p=$(RSS_VIEW=$view rss crun --root "$W/crun" run --bundle "$B" nskbench)
	rss_row run "peak RSS of run (GNU time %M)" "$n" "crun run" "$p"
}

start_target() {
	command -v runc >/dev/null || { echo "bench/run.sh: $SCENARIO needs runc" >&2; exit 1; }
	[ -n "${PID:-}" ] && return
	head -c $((PTY_MB * 1000000)) < <(yes 'nsk pty throughput: one line of text to copy through a terminal') >"$R/big"
	bundle '["sleep", "1000"]' /nsk-bench/sleeper
	(cd "$B" && runc run -d nskbench-sleeper </dev/null >/dev/null 2>&1)
	PID=$(runc state nskbench-sleeper | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
}

scenario_enter() {
	start_target
	echo "== enter: exec /bin/true in a running runc container (rounds $ROUNDS x $RUNS runs)"
	series enter nsk "$NSK --root $W/state enter -T $PID /bin/true" \
		nsenter "nsenter -t $PID -a /bin/true" runc "runc exec nskbench-sleeper /bin/true"
	report enter "enter|enter -T PID /bin/true|nsk|nsenter|nsenter -t PID -a|1.3" \
		"enter|enter, against runc exec|nsk|runc|runc exec|-"
	rss_row enter "peak RSS of enter -T (GNU time %M)" "$(rss "$NSK" --root "$W/state" enter -T "$PID" /bin/true)" \
		"nsenter -a" "$(rss nsenter -t "$PID" -a /bin/true)"
}

scenario_pty() {
	start_target
	echo "== pty: $PTY_MB MB through a PTY under script (rounds $PTY_ROUNDS x 1 run)"
	# PTY hops: script+cat 1 (script's), nsk enter -t and runc exec -t 2 (theirs and script's).
	# A script inside script is the same two hops with script's own proxy on both: what two
	# hops cost on this machine.
	SH=1 SROUNDS=$PTY_ROUNDS SRUNS=1 WARM=0 series pty \
		script "script -qfc 'cat $R/big' /dev/null >/dev/null" \
		script2 "script -qfc \"script -qfc 'cat $R/big' /dev/null\" /dev/null >/dev/null" \
		nsk "script -qfc '$NSK --root $W/state enter -t $PID cat /big' /dev/null >/dev/null" \
		runc "script -qfc 'runc exec -t nskbench-sleeper cat /big' /dev/null >/dev/null"
	report pty "pty|$PTY_MB MB through enter -t under script|nsk|script|script -qfc cat|1.0" \
		"pty|the same, against runc exec -t under script|nsk|runc|runc exec -t|0.67" \
		"pty|the same, against a script inside script (two hops, as nsk's)|nsk|script2|script -qfc script -qfc cat|-"
	python3 - "$W" "$PTY_MB" "$NOTES" <<'PY'
import json, sys, statistics as st
d, mb, notes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rounds = int(open(f"{d}/pty.rounds").read())
res = [{x["command"]: x for x in json.load(open(f"{d}/pty.r{r}.json"))["results"]} for r in range(1, rounds + 1)]
hops = {"script": 1, "script2": 2, "nsk": 2, "runc": 2}
with open(notes, "a") as out:
    for n, h in hops.items():
        cpu = st.median([r[n]["user"] + r[n]["system"] for r in res])  # hyperfine: means per round
        wall = st.median([t for r in res for t in r[n]["times"]])
        line = (f"pty: {n:<7} {mb / wall:6.1f} MB/s, CPU (user+sys of the process tree) "
                f"{cpu * 1e3 / mb:5.2f} ms/MB, {h} hop(s): {cpu * 1e3 / mb / h:5.2f} ms per MB per hop")
        print("  " + line)
        out.write(line + "\n")
PY
	# Peak RSS of enter -t itself, timed inside script (script's own is not nsk's).
	local k=$W/rss.txt n
	n=$(for i in 1 2 3 4 5; do
		script -qfc "/usr/bin/time -f %M -o $k $NSK --root $W/state enter -t $PID cat /etc/passwd" /dev/null >/dev/null 2>&1
		tail -1 "$k"
	done | sort -n | sed -n 3p)
	rss_row pty "peak RSS of enter -t under script (GNU time %M)" "$n" "script" \
		"$(rss script -qfc 'cat /etc/passwd' /dev/null)"
}

scenario_ps() {
	command -v lsns >/dev/null || { echo "bench/run.sh: ps needs lsns (util-linux)" >&2; exit 1; }
	local i
	for i in $(seq "$NS_SETS"); do
		unshare --pid --fork --kill-child --uts --ipc --net --mount sleep 1000 </dev/null >/dev/null 2>&1 &
		LOAD+=($!)
	done
	for i in $(seq 100); do [ "$(lsns -n -t uts -o NS | wc -l)" -gt "$NS_SETS" ] && break; sleep 0.2; done
	echo "== ps: every namespace set, $(ls -d /proc/[0-9]* | wc -l) processes, $(lsns -n -o NS | wc -l) namespaces (rounds $ROUNDS x $RUNS runs)"
	SH=1 series ps nsk "$NSK --root $W/state ps --host --json >/dev/null" lsns "lsns -J >/dev/null" \
		floor "stat -c %N /proc/[0-9]*/ns/* >/dev/null 2>&1 || true"
	report ps "ps|ps --host --json, $NS_SETS extra namespace sets|nsk|lsns|lsns -J|0.5" \
		"ps|ps, against a stat of every /proc/*/ns link|nsk|floor|stat /proc/*/ns/*|-"
	{ kill -KILL "${LOAD[@]}"; wait; } 2>/dev/null || true
	LOAD=()
}

# Hooks for verbs added elsewhere: a scenario runs once `nsk VERB --help` works. Each adds rows
# with series + report like the ones above; until then it leaves a note on the page.
scenario_cp() {
	if ! "$NSK" cp --help >/dev/null 2>&1; then note "cp: skipped, this nsk has no cp verb"; return; fi
	start_target
	echo "== cp: copy $PTY_MB MB out of a running container (rounds $ROUNDS x $RUNS runs)"
	SH=1 series cp nsk "${NSK_CP:-$NSK --root $W/state cp $PID:/big $W/cp.out}" \
		nsenter "nsenter -t $PID -m cat /big >$W/cp.out"
	report cp "cp|cp $PTY_MB MB out of a container|nsk|nsenter|nsenter -m cat|-"

	# A CP_MB file out of a running nsk container, from a bind volume on the disk of $W, to a file
	# in $W: against host cp of the same file between the same directories (goal: nsk at least
	# 0.9x as fast, a time ratio of at most 1.11), and docker cp of it out of a docker container
	# with the same volume. Interleaved, the source in the page cache for all (the warmup run
	# reads it), and before every run the destination removed and the disk synced, so no run
	# pays for the previous one's writeback.
	local mb=${CP_MB:-1024} vol=$W/cpvol dst=$W/cp.dst peer=()
	mkdir -p "$vol"
	head -c $((mb << 20)) /dev/urandom >"$vol/big"
	CP_NSK=cpbench
	"$NSK" --root "$W/state" run -d --name "$CP_NSK" --cgroup-parent nsk-bench --rootfs "$R" \
		-v "$vol:/vol" -- /bin/sleep 1000 >/dev/null
	if docker_up; then
		CP_IMAGE=nsk-bench-cp:$$
		tar -C "$R" --exclude=./big -c . | docker import - "$CP_IMAGE" >/dev/null
		CP_DOCKER=nsk-bench-cp-$$
		docker run -d --name "$CP_DOCKER" --network none -v "$vol:/vol" "$CP_IMAGE" /bin/sleep 1000 >/dev/null
		peer=(docker "docker cp $CP_DOCKER:/vol/big $dst")
	else
		note "cp: docker is not installed or its daemon does not start (docker version): no docker cp row"
	fi
	echo "== cp: $mb MiB out of a container's bind volume (rounds ${CP_ROUNDS:-4} x ${CP_RUNS:-3} runs)"
	SH=1 PREP="rm -f $dst; sync" SROUNDS=${CP_ROUNDS:-4} SRUNS=${CP_RUNS:-3} series cpbig \
		nsk "$NSK --root $W/state cp $CP_NSK:/vol/big $dst" cp "cp $vol/big $dst" "${peer[@]}"
	local specs=("cp|cp $mb MiB out of a container's bind volume, same disk|nsk|cp|host cp, same dirs|1.11")
	[ ${#peer[@]} -gt 0 ] && specs+=("cp|the same, against docker cp out of a docker container|nsk|docker|docker cp|-")
	report cpbig "${specs[@]}"
	cmp -s "$vol/big" "$dst" || { echo "bench/run.sh: the copy differs from its source" >&2; exit 1; }
}
scenario_top() {
	if ! "$NSK" top --help >/dev/null 2>&1; then note "top: skipped, this nsk has no top verb"; return; fi
	# load_up, load_measure, load_down: nsk containers of a state root of their own.
	. bench/top-load.sh
	local n=${TOP_N:-100} peers=() specs=() ms core ns
	load_up "$n"
	command -v systemd-cgtop >/dev/null && peers+=(cgtop "systemd-cgtop -n 1 -b") ||
		note "top: systemd-cgtop is not installed (apt-get install systemd); no cgtop row"
	docker_up && peers+=(docker "docker stats --no-stream") ||
		note "top: docker is not installed or its daemon does not start; no docker stats row"
	echo "== top: one refresh over the host's containers, $n nsk containers up (rounds $(((ROUNDS + 1) / 2)) x $RUNS runs)"
	# nsk needs two reads for its rates (-i 0.1 apart); cgtop's first and only refresh shows
	# none; docker stats waits for two samples of its daemon.
	SROUNDS=$(((ROUNDS + 1) / 2)) series top nsk "$NSK --root $LOAD_DIR/state top --no-stream -i 0.1" "${peers[@]}"
	local p
	for p in "${peers[@]}"; do
		case $p in
		cgtop) specs+=("top|top --no-stream -i 0.1, $n nsk containers up|nsk|cgtop|systemd-cgtop -n 1 -b|-") ;;
		docker) specs+=("top|the same, against docker stats (its $(docker ps -q | wc -l) containers)|nsk|docker|docker stats --no-stream|-") ;;
		esac
	done
	[ ${#specs[@]} -gt 0 ] && report top "${specs[@]}"
	python3 - "$W" "$NOTES" "$n" <<'PY'
import json, sys, statistics as st
d, notes, n = sys.argv[1], sys.argv[2], sys.argv[3]
rounds = int(open(f"{d}/top.rounds").read())
res = [{x["command"]: x for x in json.load(open(f"{d}/top.r{r}.json"))["results"]} for r in range(1, rounds + 1)]
with open(notes, "a") as out:
    for c in res[0]:
        cpu = st.median([r[c]["user"] + r[c]["system"] for r in res])  # hyperfine: means per round
        line = f"top: {c:<6} CPU (user+sys of the command, not of a daemon) {cpu * 1e3:6.1f} ms a run, {n} nsk containers up"
        print("  " + line)
        out.write(line + "\n")
PY
	read -r ms core ns < <(SECS=${TOP_SECS:-20} load_measure)
	note "top: nsk CPU per refresh at -i 1, $n nsk containers: $ms ms, $core% of a core (one --no-stream run: $ns ms)"
	load_up 500
	read -r ms core ns < <(SECS=${TOP_SECS:-20} load_measure)
	note "top: nsk CPU per refresh at -i 1, 500 nsk containers: $ms ms, $core% of a core (one --no-stream run: $ns ms)"
	load_down
}

# Budgets, against BASE built from its own sources in a scratch folder: nothing of this
# checkout is touched.
scenario_budgets() {
	command -v git >/dev/null || { echo "bench/run.sh: budgets needs git" >&2; exit 1; }
	start_target
	echo "== budgets: this build against $BASE (image import: rounds $ROUNDS x $RUNS runs)"
	mkdir -p "$W/base"
	git archive "$BASE" | tar -x -C "$W/base"
	(cd "$W/base" && CARGO_TARGET_DIR=$W/base-target cargo build --release --locked -q)
	local old=$W/bin/nsk-base so sn
	install -m 0755 "$W/base-target/x86_64-unknown-linux-gnu/release/nsk" "$old"
	so=$(stat -c %s "$old")
	sn=$(stat -c %s "$NSK")
	printf 'budgets\trelease binary size (static, stripped)\t%s KiB\tnsk at %s\t%s KiB\t%s\t-\t-\t-\t-\n' \
		$((sn / 1024)) "$BASE" $((so / 1024)) "$(python3 -c "print(f'{$sn/$so:.2f}')")" >>"$ROWS"
	echo "  release binary: $((sn / 1024)) KiB, at $BASE $((so / 1024)) KiB"
	local S=(--rm --cgroup-parent nsk-bench --rootfs "$R" --memory 256M -- /bin/true)
	rss_row budgets "peak RSS of run --rm (GNU time %M)" "$(rss "$NSK" --root "$W/state" run "${S[@]}")" \
		"nsk at $BASE" "$(rss "$old" --root "$W/state" run "${S[@]}")"
	rss_row budgets "peak RSS of enter -T (GNU time %M)" "$(rss "$NSK" --root "$W/state" enter -T "$PID" /bin/true)" \
		"nsk at $BASE" "$(rss "$old" --root "$W/state" enter -T "$PID" /bin/true)"
	# A root filesystem of IMPORT_MB: the busybox tree, and files half text, half random bytes.
	local img=$W/img
	mkdir -p "$img/root"
	cp -a "$R/." "$img/root/"
	python3 - "$img/root" "$IMPORT_MB" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(18)
words = [b"nsk", b"layer", b"import", b"tar", b"gzip", b"container", b"root", b"file"]
for i in range(mb * 4):  # 256 KiB each
    d = os.path.join(root, "data", f"d{i % 32:02}")
    os.makedirs(d, exist_ok=True)
    if i % 2:
        body = rnd.randbytes(256 << 10)
    else:
        body = b" ".join(rnd.choice(words) for _ in range(60000))[: 256 << 10]
    open(os.path.join(d, f"f{i:05}"), "wb").write(body)
PY
	tar -C "$img/root" -cf "$img/root.tar" .
	gzip -6 -c "$img/root.tar" >"$img/root.tar.gz"
	PREP="rm -rf $W/imp" series import \
		new-tar "$NSK --root $W/imp image import $img/root.tar" old-tar "$old --root $W/imp image import $img/root.tar" \
		new-gz "$NSK --root $W/imp image import $img/root.tar.gz" old-gz "$old --root $W/imp image import $img/root.tar.gz"
	report import "budgets|image import, plain tar ($IMPORT_MB MB)|new-tar|old-tar|nsk at $BASE|1.0" \
		"budgets|image import, gzip tar ($IMPORT_MB MB)|new-gz|old-gz|nsk at $BASE|1.0"
	rm -rf "$W/imp" "$img" "$W/base" "$W/base-target"
}

if [ "$SCENARIO" = all ]; then
	for s in run enter pty ps cp top budgets; do "scenario_$s"; done
else
	"scenario_$SCENARIO"
fi
T1=$(date +%s)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
# Container daemons up at the end (the docker rows need dockerd; they also load the machine).
DAEMONS=$(for d in dockerd containerd podman crio; do if pgrep -x "$d" >/dev/null; then printf '%s ' "$d"; fi; done)

# The table; with `all`, the page and the chart too.
python3 - "$ROWS" "$NOTES" "$SCENARIO" "$ROUNDS" "$RUNS" "$PTY_ROUNDS" "$LOAD_BEFORE" "$LOAD_AFTER" \
	"$((T1 - T0))" "$view" "$DAEMONS" "$RUN_ROUNDS" "$RUN_RUNS" <<'PY'
import sys, os, platform, datetime, html
(rows_p, notes_p, scen, rounds, runs, pty_rounds, load0, load1, secs, view, daemons, run_rounds,
 run_runs) = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(rows_p) if l.strip()]
notes = [l.rstrip("\n") for l in open(notes_p) if l.strip()]
head = ["work", "nsk", "peer", "ratio", "goal", "met?"]
def cells(r):
    scen_, work, nv, peer, pv, ratio, lo, hi, goal, met = r
    spread = f" ({lo}..{hi})" if lo != "-" else ""
    g = "-" if goal == "-" else (f"nsk at most {goal}" if goal.endswith("MiB") else f"at most {goal}x")
    return [work, nv, f"{peer}: {pv}", f"{ratio}x{spread}", g, met]
table = [cells(r) for r in rows]
w = [max(len(x) for x in col) for col in zip(head, *table)] if table else [len(h) for h in head]
print()
print(" | ".join(h.ljust(n) for h, n in zip(head, w)))
print("-+-".join("-" * n for n in w))
for t in table:
    print(" | ".join(c.ljust(n) for c, n in zip(t, w)))
if scen != "all":
    sys.exit(0)

# SVG: one bar per row with a ratio, goal marks, a line at 1.0x.
chart = [(r[1], float(r[5]), None if r[8] in ("-",) or r[8].endswith("MiB") else float(r[8]), r[9])
         for r in rows if r[5] not in ("-", "")]
bar_h, gap, left, right, top = 22, 10, 420, 70, 40
xmax = max([2.0] + [c[1] for c in chart] + [c[2] or 0 for c in chart]) * 1.05
width, plot = 960, 960 - left - right
height = top + len(chart) * (bar_h + gap) + 40
X = lambda v: left + v / xmax * plot
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
       f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="{left}" y="22" font-size="14" font-weight="bold">nsk / peer: time, or peak RSS '
       f'(lower is better; black mark = goal)</text>']
for i in range(int(xmax * 2) + 1):
    v = i / 2
    svg.append(f'<line x1="{X(v):.1f}" y1="{top - 6}" x2="{X(v):.1f}" y2="{height - 30}" '
               f'stroke="{"#444" if v == 1 else "#ddd"}" stroke-width="{2 if v == 1 else 1}"/>')
    svg.append(f'<text x="{X(v):.1f}" y="{height - 14}" text-anchor="middle">{v:g}x</text>')
for k, (work, ratio, goal, met) in enumerate(chart):
    y = top + k * (bar_h + gap)
    color = {"yes": "#2e7d32", "no": "#c62828"}.get(met, "#607d8b")
    label = work if len(work) <= 62 else work[:60] + "…"
    svg.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{html.escape(label)}</text>')
    svg.append(f'<rect x="{left}" y="{y}" width="{X(ratio) - left:.1f}" height="{bar_h}" fill="{color}"/>')
    svg.append(f'<text x="{X(ratio) + 4:.1f}" y="{y + bar_h * 0.7:.1f}">{ratio:.2f}x</text>')
    if goal is not None:
        svg.append(f'<line x1="{X(goal):.1f}" y1="{y - 3}" x2="{X(goal):.1f}" y2="{y + bar_h + 3}" '
                   f'stroke="black" stroke-width="3"/>')
svg.append("</svg>")
open("bench/ratios.svg", "w").write("\n".join(svg) + "\n")

def read(p, default="?"):
    try:
        return open(p).read().strip()
    except OSError:
        return default
cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo", "").splitlines()
            if l.startswith("model name")), "?")
v1 = sorted(os.path.basename(l.split()[4]) for l in read("/proc/self/mountinfo", "").splitlines()
            if " - cgroup " in l)
v2 = [l.split()[4] for l in read("/proc/self/mountinfo", "").splitlines() if " - cgroup2 " in l]
if v1 and v2:
    layout = (f"hybrid: cgroup v1 ({', '.join(v1)}) and cgroup2 at {', '.join(v2)} "
              f"(controllers: {read(v2[0] + '/cgroup.controllers') or 'none'})")
elif v2:
    layout = f"cgroup v2 at {', '.join(v2)}"
else:
    layout = f"cgroup v1 ({', '.join(v1)})"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
md = ["# nsk benchmarks", "",
      "Generated by `bench/run.sh all` (do not edit by hand; run it again when a change moves a "
      "figure). Every nsk figure is measured interleaved with its peer's: hyperfine runs both in "
      f"the same series, {rounds} rounds of {runs} runs each (run's main series: {run_rounds} "
      f"rounds of {run_runs}; the PTY: {pty_rounds} rounds of one run), the order reversed every "
      "other round; `ratio` is the median of the per-round ratios of "
      "medians (lowest..highest round in brackets), times are medians over all runs. Fewer runs than "
      "a quiet machine deserves, so the whole page takes about ten minutes.", "",
      "![nsk / peer ratios per scenario](ratios.svg)", "",
      "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
md += ["| " + " | ".join(c.replace("|", "\\|") for c in t) + " |" for t in table]
md += ["", "## Notes", ""]
md += [f"- {n}" for n in notes]
md += ["- `run`: crun is run as bare as nsk: hyperfine itself runs " +
       ("in one private mount namespace without the cgroup2 mount (crun refuses hybrid cgroups "
        "otherwise), with nsk's rows in the same namespace, " if view else "") +
       "and starts `crun --root DIR run --bundle B` directly; crun's `--root` and nsk's `--root` are "
       "on the same filesystem (the disk of /tmp, then a tmpfs). Same namespaces (pid, net, ipc, "
       "uts, mnt, cgroup), the same busybox root (read-only for crun; nsk's overlay has its writable "
       "layer on a private tmpfs) and the same 256M memory limit. Both start under a cgroup parent "
       "that is already there (`nsk-bench`, made by the script first, as a host's parent slice is): "
       "crun never removes the parent it makes, while nsk removes the ones it made with their last "
       "container. The row \"run with a cgroup parent nsk makes and removes each time\" shows what "
       "that costs nsk when it is the parent's only container.",
       "- PTY: the CPU figures are the user+system time of the whole process tree (script, the "
       "tool, cat) from its rusage; the kernel's tty work done in kworker threads is not in them.",
       "- Peak RSS: GNU time `%M`, median of five runs.",
       "- nsk (this build and the base) runs from an installed copy of the release binary, as its "
       "peers run from /usr/bin: started from the file the linker wrote in target/, each start "
       "takes more page faults (about 16 more for enter, 5-10% of its time).", "",
       "## Machine", "",
       f"- Date: {now}; `bench/run.sh all` took {int(secs) // 60} min {int(secs) % 60} s",
       f"- Kernel: {platform.release()} ({platform.machine()})",
       f"- CPUs: {os.cpu_count()} x {cpu}",
       f"- Memory: {read('/proc/meminfo').splitlines()[0].split(':')[1].strip()}",
       f"- cgroups: {layout}",
       f"- Load average (1, 5, 15 min) before: {load0}; after: {load1}. Container daemons up: "
       f"{', '.join(daemons.split()) or 'none'}. Absolute times drift with the load; the ratios are "
       "what the interleaving makes comparable.", ""]
open("bench/RESULTS.md", "w").write("\n".join(md))
print("\nwrote bench/RESULTS.md and bench/ratios.svg")
PY
