#!/usr/bin/env bash
# Other container runtimes' containers on this host while nsk's tests run: a production node
# runs Docker, Podman and containerd next to nsk, and no test may depend on their absence.
#
#   tests/runtimes.sh start DIR   start containerd and dockerd (unless they already answer), import
#                                 a busybox image into each runtime, start one container in each
#                                 (Docker, Podman with runc, containerd's ctr); DIR keeps the logs
#                                 and what stop needs
#   tests/runtimes.sh daemons DIR start only containerd and dockerd (unless they already answer)
#   tests/runtimes.sh stop DIR    remove those containers and images, stop the daemons this script
#                                 started (by PID), and put back what dockerd changed
#
# start writes DIR/env (KEY=VALUE lines: the image tag, the peer container's name, the daemons'
# PIDs when this script started them) for tests/run.sh to export to the runtime tests.
#
# dockerd runs without iptables, IP forwarding or a bridge, and every container with no network,
# so the host's network is untouched. Needs: docker.io podman containerd runc busybox-static.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
usage() {
	echo "usage: tests/runtimes.sh start|daemons|stop DIR" >&2
	exit 2
}
[ -n "$cmd" ] && [ -n "$dir" ] || usage
docker=/usr/bin/docker # Debian's client, matching its dockerd (another may come first in PATH)
# Names unique to DIR, so runs from other checkouts sharing these daemons never collide (image
# repositories must be lower case).
sfx=$(printf '%s' "$(cd "$(dirname "$dir")" 2>/dev/null && pwd -P)/$(basename "$dir")" | md5sum | cut -c1-10)
tag=nsk-test-rt-$sfx:1
name=nsk-test-rt-peer-$sfx

wait_for() { # wait_for WHAT CMD...: up to 60 s
	local what=$1 i
	shift
	for i in $(seq 600); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "tests/runtimes.sh: $what did not come up; its log:" >&2
	tail -20 "$dir/$what.log" >&2 || true
	return 1
}

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || {
			echo "tests/runtimes.sh: $t is missing (apt-get install docker.io podman containerd runc)" >&2
			exit 1
		}
	done
}

daemons() {
	mkdir -p "$dir"
	need "$docker" containerd ctr dockerd runc
	if ! ctr version >/dev/null 2>&1; then
		containerd >"$dir/containerd.log" 2>&1 &
		echo $! >"$dir/containerd.pid"
		wait_for containerd ctr version
	fi
	if ! "$docker" info >/dev/null 2>&1; then
		cat /proc/sys/net/ipv4/ip_forward >"$dir/ip_forward"
		dockerd --containerd=/run/containerd/containerd.sock --iptables=false --ip6tables=false \
			--ip-forward=false --bridge=none >"$dir/dockerd.log" 2>&1 &
		echo $! >"$dir/dockerd.pid"
		wait_for dockerd "$docker" info
	fi
}

start() {
	need podman
	daemons
	# A busybox root filesystem, as an image for each runtime (no registry is reachable).
	local rootfs=$dir/rootfs bb
	bb=$(command -v busybox)
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
	cp "$bb" "$rootfs/bin/busybox"
	for a in $("$bb" --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
	echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
	tar -C "$rootfs" -cf "$dir/rootfs.tar" .

	"$docker" import -c 'CMD ["/bin/sh"]' "$dir/rootfs.tar" "$tag" >/dev/null
	"$docker" run -d --name "$name" --network none "$tag" sleep 100000 >/dev/null
	podman import -q -c 'CMD ["/bin/sh"]' "$dir/rootfs.tar" "$tag" >/dev/null
	podman run -d --name "$name" --runtime runc --network none \
		--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$tag" sleep 100000 >/dev/null
	"$docker" save "$tag" -o "$dir/image.tar"
	ctr image import "$dir/image.tar" >/dev/null
	ctr run -d "docker.io/library/$tag" "$name" sleep 100000 >/dev/null
	# What the runtime tests need (tests/integration/runtimes.rs), for tests/run.sh to export.
	{
		echo "NSK_TEST_RUNTIMES_IMAGE=$tag"
		echo "NSK_TEST_RUNTIMES_PEER=$name"
		echo "NSK_TEST_RUNTIMES_ROOTFS=$dir/rootfs.tar"
		[ -f "$dir/dockerd.pid" ] && echo "NSK_TEST_RUNTIMES_DOCKERD=$(cat "$dir/dockerd.pid")"
		[ -f "$dir/containerd.pid" ] && echo "NSK_TEST_RUNTIMES_CONTAINERD=$(cat "$dir/containerd.pid")"
	} >"$dir/env"
	echo "runtimes: docker, podman and containerd each run a container named $name"
}

stop() {
	[ -d "$dir" ] || return 0
	local rc=0
	"$docker" rm -f "$name" >/dev/null 2>&1 || true
	"$docker" rmi "$tag" >/dev/null 2>&1 || true
	podman rm -f "$name" >/dev/null 2>&1 || true
	podman rmi "$tag" >/dev/null 2>&1 || true
	if ctr task ls -q 2>/dev/null | grep -qx "$name"; then
		ctr task kill -s KILL "$name" >/dev/null 2>&1 || true
		for _ in $(seq 100); do ctr task delete "$name" >/dev/null 2>&1 && break; sleep 0.1; done
	fi
	ctr container delete "$name" >/dev/null 2>&1 || true
	ctr image rm "docker.io/library/$tag" >/dev/null 2>&1 || true
	for d in dockerd containerd; do
		[ -f "$dir/$d.pid" ] || continue
		local pid
		pid=$(cat "$dir/$d.pid")
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "tests/runtimes.sh: $d ($pid) did not stop within 15 s: killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rc=1
		fi
	done
	[ -f "$dir/ip_forward" ] && cat "$dir/ip_forward" >/proc/sys/net/ipv4/ip_forward
	rm -rf "$dir"
	return $rc
}

case $cmd in
start) start ;;
daemons) daemons ;;
stop) stop ;;
*) usage ;;
esac
