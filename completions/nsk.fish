# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nsk_global_optspecs
    string join \n root= json color= h/help V/version
end

function __fish_nsk_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nsk_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nsk_using_subcommand
    set -l cmd (__fish_nsk_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nsk -n "__fish_nsk_needs_command" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_needs_command" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_needs_command" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_needs_command" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_needs_command" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "run" -d 'Start a container: new PID, UTS, mount, IPC, network and cgroup namespaces, limits, and an overlay root filesystem (the host\'s / read-only by default)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "ps" -d 'List nsk\'s containers; with --host, every group of isolated processes on the host'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "inspect" -d 'Show the namespaces, cgroups, credentials and network of any process or container'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "limit" -d 'Change the cgroup limits of any process or container live (docker update without the daemon); with no option, show them'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "enter" -d 'Run a command inside the namespaces and cgroups of a running process or container, behind a PTY from the container\'s own devpts (docker exec -it, without the daemon)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "exec" -d 'Run a command inside the namespaces and cgroups of a running process or container, behind a PTY from the container\'s own devpts (docker exec -it, without the daemon)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "stop" -d 'Stop a container of any runtime: SIGTERM, then SIGKILL after a grace period'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "kill" -d 'Send a signal to a container\'s command (another runtime\'s: its first process)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "rm" -d 'Remove containers: cgroups, overlay directories and state'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "logs" -d 'Print a container\'s output: a detached nsk container\'s, Docker\'s json-file log, the CRI log of containerd, CRI-O and Podman (k8s-file), read with no daemon'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "image" -d 'Import, list and remove images (tarballs and OCI layouts, no daemon or registry)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "cp" -d 'Copy files between the host and any running container, with no tool inside it and no daemon: paths are resolved in the container\'s mount namespace, confined beneath its root'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "top" -d 'Every container\'s CPU, memory, PIDs, block and network I/O, pressure (PSI) and OOM kills, refreshed in place (docker stats without the daemon, for all runtimes)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "stats" -d 'Every container\'s CPU, memory, PIDs, block and network I/O, pressure (PSI) and OOM kills, refreshed in place (docker stats without the daemon, for all runtimes)'
complete -c nsk -n "__fish_nsk_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nsk -n "__fish_nsk_using_subcommand run" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand run" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand run" -l rootfs -d 'Root filesystem directory, used read-only as the overlay\'s lower layer [default: a snapshot of the host\'s /, writes discarded]' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand run" -l image -d 'Image to run: a tarball (plain root filesystem, .tar/.tar.gz/.tar.zst; docker save; OCI), an OCI layout directory, FILE:TAG or FILE@sha256:DIGEST to pick one, or a NAME[:TAG] or id from `nsk image ls`. Unpacked once into the cache, verified, shared read-only' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l entrypoint -d 'Replace the image\'s Entrypoint ("" clears it)' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l name -d 'Container name, unique under the state root: letters, digits, \'_\', \'.\' and \'-\', not digits only (those are PIDs) [default: the first 12 digits of the id]' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l hostname -d 'Hostname inside the container: letters, digits, \'-\', \'_\' and \'.\' [default: the name]' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -s e -l env -d 'Set an environment variable (KEY=VAL; a bare KEY copies the caller\'s value)' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -s w -l workdir -d 'Working directory inside the container, created if missing [default: the image\'s WorkingDir, or /]' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -s u -l user -d 'Run the command as USER[:GROUP], names or numbers from the container\'s /etc/passwd' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l net -d 'Network: none (a new namespace with lo up) or host' -r -f -a "none\t'A new network namespace with only the loopback interface, up'
host\t'The host\'s network namespace'"
complete -c nsk -n "__fish_nsk_using_subcommand run" -s v -l volume -d 'Bind-mount a host path (HOST:CONTAINER[:ro]); nosuid and nodev always' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l memory -d 'Memory limit (512k, 256M, 1.5G, max)' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l memory-swap -d 'Memory plus swap limit, docker\'s meaning [default: twice --memory]' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l cpus -d 'CPU limit as a number of CPUs (0.5, 2)' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l pids -d 'Maximum number of processes' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l storage-size -d 'Bound of the writable layer: a tmpfs of SIZE private to the container (charged to its memory cgroup), so it cannot fill the state root; max keeps it unbounded in the state directory' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l cgroup-parent -d 'Parent cgroup of the container\'s cgroups, relative to each hierarchy\'s root, without \'..\' (machine/nsk); nsk removes only the parents it created' -r
complete -c nsk -n "__fish_nsk_using_subcommand run" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand run" -s t -l tty -d 'Give the command a PTY from the container\'s own devpts [default: when stdin is a terminal]'
complete -c nsk -n "__fish_nsk_using_subcommand run" -s T -l no-tty -d 'Never allocate a PTY: the command gets the caller\'s stdin, stdout and stderr'
complete -c nsk -n "__fish_nsk_using_subcommand run" -s d -l detach -d 'Run in the background: print the name and return; output goes to `nsk logs`'
complete -c nsk -n "__fish_nsk_using_subcommand run" -l rm -d 'Remove the container when its command exits'
complete -c nsk -n "__fish_nsk_using_subcommand run" -l userns -d 'Add a user namespace mapping the caller to root inside (lets a non-root user run)'
complete -c nsk -n "__fish_nsk_using_subcommand run" -l privileged -d 'Keep every capability and leave /proc and /sys paths unmasked'
complete -c nsk -n "__fish_nsk_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nsk -n "__fish_nsk_using_subcommand run" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand ps" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand ps" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand ps" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand ps" -s a -l all -d 'Also show nsk containers that are not running (docker ps -a)'
complete -c nsk -n "__fish_nsk_using_subcommand ps" -l host -d 'Every group of isolated processes on the host (any runtime), one row per container'
complete -c nsk -n "__fish_nsk_using_subcommand ps" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand ps" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand inspect" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand inspect" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand inspect" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l memory -d 'Memory limit (512k, 256M, 1.5G, max)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l memory-swap -d 'Memory plus swap limit, docker\'s meaning (v2: swap.max = this minus memory)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l memory-reservation -d 'Soft memory limit (v1 memory.soft_limit_in_bytes, v2 memory.low)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l cpus -d 'CPU limit as a number of CPUs (0.5, 2, max)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l cpu-shares -d 'Relative CPU weight, v1 style (2-262144; converted to cpu.weight on v2 as runc does)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l cpu-weight -d 'Relative CPU weight, v2 style (1-10000; converted to cpu.shares on v1)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l cpuset-cpus -d 'CPUs the processes may run on (0-3, 0,2)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l pids -d 'Maximum number of processes (N or max)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l io-weight -d 'I/O weight (v2 io.weight 1-10000, v1 blkio.weight 10-1000)' -r
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l freeze -d 'Freeze every process of the cgroup'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l thaw -d 'Thaw a frozen cgroup (refused when the container\'s runtime paused it, unless --force)'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l force -d 'With --thaw: thaw a container its runtime paused (docker pause, podman pause, ctr task pause), leaving the runtime believing it paused'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l dry-run -d 'Show what would change, write nothing; every check of the real change is made, with the same status and message'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -l reset -d 'Put back the values from before nsk\'s first change, where they still hold what nsk wrote (a value changed since is left alone and named), and forget them'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand limit" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s w -l workdir -d 'Working directory inside the target [default: the target\'s own]' -r
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s e -l env -d 'Set an environment variable on top of the target\'s (KEY=VAL)' -r
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s u -l user -d 'Run as USER[:GROUP] from the target\'s /etc/passwd and /etc/group [default: the target\'s identity]' -r
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l tools -d 'Show a host directory of tools (a static busybox, say) at /.nsk/tools, first in PATH, in a private view of the target\'s filesystem that the target never sees' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s m -l mount -d 'Join the mount namespace (with -i, -n, -p, -U, -C, --uts, --time: only those named)'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l uts -d 'Join the UTS namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s i -l ipc -d 'Join the IPC namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s n -l net -d 'Join the network namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s p -l pid -d 'Join the PID namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s U -l userns -d 'Join the user namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s C -l cgroupns -d 'Join the cgroup namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l time -d 'Join the time namespace'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l no-cgroup -d 'Stay in nsk\'s own cgroups instead of joining the target\'s'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -l privileged -d 'Enter without the target\'s confinement: nsk\'s capabilities, no seccomp filter, LSM label, no_new_privs or rlimits of the target\'s'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s t -l tty -d 'Allocate a PTY even when stdin is not a terminal'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s T -l no-tty -d 'No PTY: the command gets nsk\'s stdin, stdout and stderr directly'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand enter" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s w -l workdir -d 'Working directory inside the target [default: the target\'s own]' -r
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s e -l env -d 'Set an environment variable on top of the target\'s (KEY=VAL)' -r
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s u -l user -d 'Run as USER[:GROUP] from the target\'s /etc/passwd and /etc/group [default: the target\'s identity]' -r
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l tools -d 'Show a host directory of tools (a static busybox, say) at /.nsk/tools, first in PATH, in a private view of the target\'s filesystem that the target never sees' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s m -l mount -d 'Join the mount namespace (with -i, -n, -p, -U, -C, --uts, --time: only those named)'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l uts -d 'Join the UTS namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s i -l ipc -d 'Join the IPC namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s n -l net -d 'Join the network namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s p -l pid -d 'Join the PID namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s U -l userns -d 'Join the user namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s C -l cgroupns -d 'Join the cgroup namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l time -d 'Join the time namespace'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l no-cgroup -d 'Stay in nsk\'s own cgroups instead of joining the target\'s'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -l privileged -d 'Enter without the target\'s confinement: nsk\'s capabilities, no seccomp filter, LSM label, no_new_privs or rlimits of the target\'s'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s t -l tty -d 'Allocate a PTY even when stdin is not a terminal'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s T -l no-tty -d 'No PTY: the command gets nsk\'s stdin, stdout and stderr directly'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand exec" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand stop" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand stop" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand stop" -s t -l time -d 'Seconds to wait after SIGTERM before SIGKILL' -r
complete -c nsk -n "__fish_nsk_using_subcommand stop" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand stop" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand stop" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand kill" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand kill" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand kill" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand kill" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand kill" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand rm" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand rm" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand rm" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand rm" -s f -l force -d 'Kill running containers first, and ignore names that do not exist'
complete -c nsk -n "__fish_nsk_using_subcommand rm" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand rm" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand logs" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand logs" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand logs" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand logs" -s f -l follow -d 'Keep printing new output until the container exits'
complete -c nsk -n "__fish_nsk_using_subcommand logs" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand logs" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -f -a "import" -d 'Unpack an image into the cache ahead of time (a tarball, an OCI layout directory, FILE:TAG or FILE@sha256:DIGEST)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -f -a "ls" -d 'List cached images'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -f -a "rm" -d 'Remove cached images (refused while a container uses one)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and not __fish_seen_subcommand_from import ls rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -l name -d 'Name it NAME[:TAG] [default: the archive\'s own tags, or the file name]' -r
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from ls" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from ls" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from ls" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from ls" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from rm" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from rm" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from rm" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "import" -d 'Unpack an image into the cache ahead of time (a tarball, an OCI layout directory, FILE:TAG or FILE@sha256:DIGEST)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List cached images'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove cached images (refused while a container uses one)'
complete -c nsk -n "__fish_nsk_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand cp" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand cp" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -s a -l archive -d 'Archive mode: keep uid and gid (mapped through the container\'s user namespace) and the extended attributes user.*, security.capability and trusted.*'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -s L -l follow-link -d 'Follow a symlink SRC (the symlink itself is copied otherwise)'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -s q -l quiet -d 'No progress, even on a terminal'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -s h -l help -d 'Print help'
complete -c nsk -n "__fish_nsk_using_subcommand cp" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand top" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand top" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand top" -s i -l interval -d 'Seconds between refreshes (0.1 to 3600)' -r
complete -c nsk -n "__fish_nsk_using_subcommand top" -l sort -d 'Sort order, largest first' -r -f -a "cpu\t'CPU use'
mem\t'Memory working set'
io\t'Block I/O read plus write rate'
pids\t'Number of processes'
oom\t'OOM kills'"
complete -c nsk -n "__fish_nsk_using_subcommand top" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand top" -l no-stream -d 'Print one snapshot and exit'
complete -c nsk -n "__fish_nsk_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nsk -n "__fish_nsk_using_subcommand top" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand stats" -l root -d 'State root holding one directory per container' -r -F
complete -c nsk -n "__fish_nsk_using_subcommand stats" -l color -d 'When to color tables (NO_COLOR in the environment means never)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nsk -n "__fish_nsk_using_subcommand stats" -s i -l interval -d 'Seconds between refreshes (0.1 to 3600)' -r
complete -c nsk -n "__fish_nsk_using_subcommand stats" -l sort -d 'Sort order, largest first' -r -f -a "cpu\t'CPU use'
mem\t'Memory working set'
io\t'Block I/O read plus write rate'
pids\t'Number of processes'
oom\t'OOM kills'"
complete -c nsk -n "__fish_nsk_using_subcommand stats" -l json -d 'Print data as JSON (for scripts)'
complete -c nsk -n "__fish_nsk_using_subcommand stats" -l no-stream -d 'Print one snapshot and exit'
complete -c nsk -n "__fish_nsk_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nsk -n "__fish_nsk_using_subcommand stats" -s V -l version -d 'Print version'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "run" -d 'Start a container: new PID, UTS, mount, IPC, network and cgroup namespaces, limits, and an overlay root filesystem (the host\'s / read-only by default)'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "ps" -d 'List nsk\'s containers; with --host, every group of isolated processes on the host'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "inspect" -d 'Show the namespaces, cgroups, credentials and network of any process or container'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "limit" -d 'Change the cgroup limits of any process or container live (docker update without the daemon); with no option, show them'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "enter" -d 'Run a command inside the namespaces and cgroups of a running process or container, behind a PTY from the container\'s own devpts (docker exec -it, without the daemon)'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "stop" -d 'Stop a container of any runtime: SIGTERM, then SIGKILL after a grace period'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "kill" -d 'Send a signal to a container\'s command (another runtime\'s: its first process)'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "rm" -d 'Remove containers: cgroups, overlay directories and state'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "logs" -d 'Print a container\'s output: a detached nsk container\'s, Docker\'s json-file log, the CRI log of containerd, CRI-O and Podman (k8s-file), read with no daemon'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "image" -d 'Import, list and remove images (tarballs and OCI layouts, no daemon or registry)'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "cp" -d 'Copy files between the host and any running container, with no tool inside it and no daemon: paths are resolved in the container\'s mount namespace, confined beneath its root'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "top" -d 'Every container\'s CPU, memory, PIDs, block and network I/O, pressure (PSI) and OOM kills, refreshed in place (docker stats without the daemon, for all runtimes)'
complete -c nsk -n "__fish_nsk_using_subcommand help; and not __fish_seen_subcommand_from run ps inspect limit enter stop kill rm logs image cp top help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
