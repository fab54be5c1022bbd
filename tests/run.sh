#!/usr/bin/env bash
# nsk's whole test suite, as root, in three passes:
#   host  unit and integration tests on this host (cgroup v1, hybrid or v2: whatever it has)
#   v2    the integration tests inside a QEMU guest that boots a pure cgroup v2 kernel
#   v1    the same inside a guest that boots a pure cgroup v1 layout
# so every cgroup implementation runs against a real kernel. Every pass runs and reports its
# counts and wall time before the script fails, so one red pass does not hide another.
#
#   ./tests/run.sh                   everything
#   ./tests/run.sh host v2           only the passes named
#   NSK_VM=skip ./tests/run.sh       host only (says so loudly; for hosts that cannot run qemu)
#   NSK_VM_RUNNER=PATH               the guest runner [default: ../shared/vmtest/run-in-v2-vm.sh,
#                                    which installs qemu on first use]
# Works from a checkout in any folder: the checkout is shared with the guest at the same path
# (its /tmp and /run are otherwise fresh), and the guest's scratch space is its own /tmp.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
if [ "$(id -u)" != 0 ]; then
	echo "tests/run.sh: the tests need root (namespaces, mounts, cgroups, pivot_root)" >&2
	exit 1
fi
passes=("$@")
[ ${#passes[@]} -gt 0 ] || passes=(host v2 v1)
for p in "${passes[@]}"; do
	case $p in host | v2 | v1) ;; *)
		echo "tests/run.sh: unknown pass '$p' (host, v2 or v1)" >&2
		exit 2
		;;
	esac
done

logdir=$(mktemp -d "${TMPDIR:-/tmp}/nsk-suite.XXXXXX")
summary=()
failed=0
total_pass=0
total_fail=0

# Sum cargo's "test result:" lines of a log into "P F".
count() {
	# grep first: a failing test may print a line of megabytes, which awk would split in fields.
	grep -a '^test result:' "$1" |
		awk '{ for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
		     END { printf "%d %d\n", p, f }'
}

# run_pass NAME CMD...: run, tee the output, record counts, status and wall time.
run_pass() {
	local name=$1
	shift
	local log=$logdir/$name.log start rc p f
	echo "== pass $name: $*"
	start=$(date +%s)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r p f < <(count "$log")
	local secs=$(($(date +%s) - start))
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$rc" = 0 ] && [ "$p" -gt 0 ]; then
		summary+=("$(printf '%-5s ok      %4d passed, %d failed, %ds' "$name" "$p" "$f" "$secs")")
	else
		[ "$p" -gt 0 ] || [ "$rc" != 0 ] || rc=1
		summary+=("$(printf '%-5s FAILED  %4d passed, %d failed, %ds (exit %d)' "$name" "$p" "$f" "$secs" "$rc")")
		failed=1
	fi
}

want() { printf '%s\n' "${passes[@]}" | grep -qx "$1"; }

# What the host pass leaves behind, found by what it made: its scratch folder (every state root,
# volume and tmux socket of a test lives there), cgroups, runc containers and markers named
# nsk-test-RUN-…, mounts naming either, processes running a binary of this checkout, and
# network links that were not there before.
run=s$$
scratch=$logdir/tmp
links() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
leftovers() {
	ls -A "$scratch" | sed 's|^|scratch: |'
	find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d -name "nsk-test-$run-*" 2>/dev/null | sed 's|^|cgroup: |'
	grep -e "$scratch" -e "nsk-test-$run-" /proc/self/mountinfo | sed 's|^|mount: |'
	if command -v runc >/dev/null; then runc list -q 2>/dev/null | grep "^nsk-test-$run-" | sed 's|^|runc container: |'; fi
	ls -d /etc/nsk-test-$run-* 2>/dev/null | sed 's|^|marker: |'
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in "$repo"/target/*) echo "process: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" ;; esac
	done
	comm -13 <(printf '%s\n' "$links_before") <(links) | sed 's|^|network link: |'
	if [ "$runtimes_up" = 1 ]; then
		/usr/bin/docker ps -a --format '{{.Names}}' 2>/dev/null | grep "^nsk-test-$run-" | sed 's|^|docker container: |'
		podman ps -a --format '{{.Names}}' 2>/dev/null | grep "^nsk-test-$run-" | sed 's|^|podman container: |'
		ctr containers ls -q 2>/dev/null | grep "^nsk-test-$run-" | sed 's|^|containerd container: |'
	fi
}

# The host pass runs while Docker, Podman and containerd each run a container, as on a production
# node (tests/runtimes.sh; NSK_RUNTIMES=skip runs it without them, and says so).
runtimes_dir=$logdir/runtimes
runtimes_up=0
start_runtimes() {
	if [ "${NSK_RUNTIMES:-}" = skip ]; then
		echo "!! host pass without other runtimes' containers (NSK_RUNTIMES=skip)" >&2
		summary+=("runtimes SKIPPED (NSK_RUNTIMES=skip)")
	elif tests/runtimes.sh start "$runtimes_dir"; then
		runtimes_up=1
	else
		echo "!! cannot start Docker, Podman and containerd containers for the host pass (NSK_RUNTIMES=skip to run without)" >&2
		summary+=("runtimes FAILED to start")
		failed=1
	fi
}
stop_runtimes() {
	[ "$runtimes_up" = 1 ] || return 0
	runtimes_up=0
	tests/runtimes.sh stop "$runtimes_dir" || { summary+=("runtimes FAILED to stop cleanly"); failed=1; }
}
trap 'stop_runtimes; rm -rf "$logdir"' EXIT

if want host; then
	start_runtimes
	mkdir -m 0755 "$scratch"
	chmod 0755 "$logdir"
	links_before=$(links)
	# Tests named peer_… need the other runtimes (Docker, Podman, containerd): with them up they
	# run, with the image and daemons tests/runtimes.sh wrote down, and fail, never skip, when a
	# runtime does not answer. Without them (and in the guests, which have no docker) they are
	# left out by name.
	rt_env=()
	skip="-- --skip peer_"
	if [ "$runtimes_up" = 1 ]; then
		rt_env=(NSK_TEST_RUNTIMES=1)
		while IFS= read -r kv; do rt_env+=("$kv"); done <"$runtimes_dir/env"
		skip=""
	fi
	run_pass host env "${rt_env[@]}" NSK_TEST_RUN=$run TMPDIR="$scratch" sh -c "echo \"host: $(uname -r), /sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)\"; cargo test --locked --no-fail-fast $skip"
	left=$(leftovers)
	if [ -n "$left" ]; then
		echo "!! the host pass left this behind:"
		printf '   %s\n' "$left"
		summary+=("host  FAILED  left $(wc -l <<<"$left") thing(s) behind (listed above)")
		failed=1
	fi
	stop_runtimes
fi

guest_passes=()
want v2 && guest_passes+=(v2)
want v1 && guest_passes+=(v1)
if [ ${#guest_passes[@]} -gt 0 ]; then
	runner=${NSK_VM_RUNNER:-../shared/vmtest/run-in-v2-vm.sh}
	if [ "${NSK_VM:-}" = skip ]; then
		echo "!! cgroup ${guest_passes[*]} guest passes SKIPPED (NSK_VM=skip): only this host's cgroup layout was tested" >&2
		summary+=("guest SKIPPED (NSK_VM=skip): ${guest_passes[*]}")
		guest_passes=()
	elif [ ! -x "$runner" ]; then
		echo "tests/run.sh: no guest runner at $runner (set NSK_VM_RUNNER, or NSK_VM=skip)" >&2
		summary+=("guest FAILED: no runner at $runner")
		failed=1
		guest_passes=()
	fi
fi
if [ ${#guest_passes[@]} -gt 0 ]; then
	bin=$(cargo test --locked --test integration --no-run --message-format=json 2>/dev/null |
		python3 -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j.get("reason") == "compiler-artifact" and j.get("executable") and j["target"]["name"] == "integration":
        print(j["executable"])')
	if [ -z "$bin" ]; then
		echo "tests/run.sh: cannot build the integration test binary" >&2
		summary+=("guest FAILED: no integration test binary")
		failed=1
	else
		for mode in "${guest_passes[@]}"; do
			# The checkout (binaries, fixtures, committed docs) is shared read-only at its own
			# path; the tests' scratch space is the guest's /tmp, where overlayfs upper dirs work.
			# The guest's tmpfs keeps no user.* xattrs (before Linux 6.6): tests that need them
			# get a folder of the host's disk, shared read-write (9p passes user.* xattrs,
			# owners and fifos through, not trusted.*), emptied afterwards.
			# The guests run no other runtimes: the peer_ tests run in the host pass.
			# The guest emulates its CPU (no KVM here): waits get 6 times their bound.
			disk=$(mktemp -d "$repo/target/nsk-guest-disk.XXXXXX")
			run_pass "$mode" env NSK_TEST_TMPDIR=/tmp NSK_TEST_DISK_TMPDIR="$disk" NSK_TEST_TIME_SCALE=6 "$runner" -M "$mode" -t 2400 -m 3G -r "$repo" -w "$disk" -- "$bin" --test-threads=2 --skip peer_
			if [ -n "$(ls -A "$disk")" ]; then
				summary+=("$mode LEFT files in its disk folder: $(ls -A "$disk" | head -5 | tr '\n' ' ')")
				failed=1
			fi
			rm -rf "$disk"
		done
	fi
fi

echo "== summary"
printf '   %s\n' "${summary[@]}"
echo "suite: $total_pass passed, $total_fail failed"
exit $failed
