#!/usr/bin/env bash
# nsk's whole test suite, as root: unit and integration tests on this host (cgroup v1, hybrid or
# v2, whatever it has), then the integration tests again inside a QEMU guest that boots a pure
# cgroup v2 kernel, so both cgroup implementations run against a real kernel.
#
#   ./tests/run.sh              everything
#   NSK_V2_VM=skip ./tests/run.sh   host only (says so loudly)
#   NSK_VM_RUNNER=PATH          the v2 VM runner [default: ../shared/vmtest/run-in-v2-vm.sh]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "tests/run.sh: the tests need root (namespaces, mounts, cgroups, pivot_root)" >&2
	exit 1
fi

echo "== host: $(uname -r), cgroups: $(stat -fc %T /sys/fs/cgroup)"
cargo test --locked

runner=${NSK_VM_RUNNER:-../shared/vmtest/run-in-v2-vm.sh}
if [ "${NSK_V2_VM:-}" = skip ]; then
	echo "== cgroup v2 VM pass SKIPPED (NSK_V2_VM=skip): the v2 code ran only where this host has it" >&2
	exit 0
fi
if [ ! -x "$runner" ]; then
	echo "tests/run.sh: no cgroup v2 VM runner at $runner (set NSK_VM_RUNNER, or NSK_V2_VM=skip)" >&2
	exit 1
fi
bin=$(cargo test --locked --test integration --no-run --message-format=json 2>/dev/null |
	python3 -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j.get("reason") == "compiler-artifact" and j.get("executable") and j["target"]["name"] == "integration":
        print(j["executable"])')
echo "== cgroup v2 guest: $bin"
NSK_TEST_TMPDIR=/tmp "$runner" -t 2400 -m 3G -- "$bin" --test-threads=2
