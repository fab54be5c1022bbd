//! The command line, one `Args` struct per verb. Man pages and completions are generated from
//! these definitions (`cargo run --example generate -- .`), so help text here is the documentation.

use crate::units::{
    CpuList, CpuShares, CpuWeight, Cpus, Interval, IoWeight, Pids, Seconds, Signal, Size,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
EXIT STATUS:
  N        the container's command exited with code N
  128+N    the command was killed by signal N (137 = SIGKILL, also after an OOM kill)
  125      nsk itself failed (bad input, missing permission, setup error)
  126      the command was found but could not be executed
  127      the command was not found";

#[derive(Debug, Parser)]
#[command(
    name = "nsk",
    version,
    about = "Exec-debugging toolkit for Linux containers: run, inspect, enter and limit, straight from the kernel",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// State root holding one directory per container
    #[arg(long, global = true, env = "NSK_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print data as JSON (for scripts)
    #[arg(long, global = true)]
    pub json: bool,
    /// When to color tables (NO_COLOR in the environment means never)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The verbs. Each one's arguments are built only when it is the verb used (`defer`): parsing
/// `nsk enter` builds enter's options, not those of all twelve verbs (about 0.2 ms of start-up
/// less, most of it first touches of the code that builds them).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Start a container: new PID, UTS, mount, IPC, network and cgroup namespaces, limits, and an
    /// overlay root filesystem (the host's / read-only by default)
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// List nsk's containers; with --host, every group of isolated processes on the host
    Ps(PsArgs),
    /// Show the namespaces, cgroups, credentials and network of any process or container
    Inspect(InspectArgs),
    /// Change the cgroup limits of any process or container live (docker update without the
    /// daemon); with no option, show them
    Limit(LimitArgs),
    /// Run a command inside the namespaces and cgroups of a running process or container, behind
    /// a PTY from the container's own devpts (docker exec -it, without the daemon)
    #[command(after_help = EXIT_CODES, visible_alias = "exec")]
    Enter(EnterArgs),
    /// Stop a container of any runtime: SIGTERM, then SIGKILL after a grace period
    Stop(StopArgs),
    /// Send a signal to a container's command (another runtime's: its first process)
    Kill(KillArgs),
    /// Remove containers: cgroups, overlay directories and state
    Rm(RmArgs),
    /// Print a container's output: a detached nsk container's, Docker's json-file log, the CRI
    /// log of containerd, CRI-O and Podman (k8s-file), read with no daemon
    Logs(LogsArgs),
    /// Import, list and remove images (tarballs and OCI layouts, no daemon or registry)
    Image(ImageArgs),
    /// Copy files between the host and any running container, with no tool inside it and no
    /// daemon: paths are resolved in the container's mount namespace, confined beneath its root
    Cp(CpArgs),
    /// Every container's CPU, memory, PIDs, block and network I/O, pressure (PSI) and OOM kills,
    /// refreshed in place (docker stats without the daemon, for all runtimes)
    #[command(visible_alias = "stats")]
    Top(TopArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// CPU use
    Cpu,
    /// Memory working set
    Mem,
    /// Block I/O read plus write rate
    Io,
    /// Number of processes
    Pids,
    /// OOM kills
    Oom,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Rates (CPU, block I/O, network) come from two reads: --no-stream waits up to 1 s between them.
CPU % is of one core, then of the container's own CPU limit (of all CPUs without one). Memory
is the working set (usage minus inactive file cache, as docker stats). PSI is 'some avg10' of
cpu, memory and io (- where unreadable: cgroup v1). A row marked ! had an OOM kill or memory.high
throttling since the previous refresh. On a terminal, q quits. With --json: one JSON object per
refresh (NDJSON).")]
pub struct TopArgs {
    /// Only these containers (TARGET as for inspect) [default: every container on the host]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Seconds between refreshes (0.1 to 3600)
    #[arg(short = 'i', long, default_value = "2", value_name = "SECONDS")]
    pub interval: Interval,
    /// Sort order, largest first
    #[arg(long, value_enum, default_value_t = SortKey::Cpu)]
    pub sort: SortKey,
    /// Print one snapshot and exit
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetMode {
    /// A new network namespace with only the loopback interface, up
    None,
    /// The host's network namespace
    Host,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Root filesystem directory, used read-only as the overlay's lower layer [default: a
    /// snapshot of the host's /, writes discarded]
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
    /// Image to run: a tarball (plain root filesystem, .tar/.tar.gz/.tar.zst; docker save; OCI),
    /// an OCI layout directory, FILE:TAG or FILE@sha256:DIGEST to pick one, or a NAME[:TAG] or
    /// id from `nsk image ls`. Unpacked once into the cache, verified, shared read-only
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Replace the image's Entrypoint ("" clears it)
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Container name, unique under the state root: letters, digits, '_', '.' and '-', not
    /// digits only (those are PIDs) [default: the first 12 digits of the id]
    #[arg(long)]
    pub name: Option<String>,
    /// Hostname inside the container: letters, digits, '-', '_' and '.' [default: the name]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set an environment variable (KEY=VAL; a bare KEY copies the caller's value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Working directory inside the container, created if missing [default: the image's
    /// WorkingDir, or /]
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run the command as USER[:GROUP], names or numbers from the container's /etc/passwd
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Network: none (a new namespace with lo up) or host
    #[arg(long, value_enum, default_value_t = NetMode::None)]
    pub net: NetMode,
    /// Bind-mount a host path (HOST:CONTAINER[:ro]); nosuid and nodev always
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volumes: Vec<String>,
    /// Memory limit (512k, 256M, 1.5G, max)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<Size>,
    /// Memory plus swap limit, docker's meaning [default: twice --memory]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<Size>,
    /// CPU limit as a number of CPUs (0.5, 2)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpus: Option<Cpus>,
    /// Maximum number of processes
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids: Option<Pids>,
    /// Bound of the writable layer: a tmpfs of SIZE private to the container (charged to its
    /// memory cgroup), so it cannot fill the state root; max keeps it unbounded in the state
    /// directory
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "1G",
        allow_hyphen_values = true
    )]
    pub storage_size: Size,
    /// Give the command a PTY from the container's own devpts [default: when stdin is a terminal]
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a PTY: the command gets the caller's stdin, stdout and stderr
    #[arg(short = 'T', long)]
    pub no_tty: bool,
    /// Run in the background: print the name and return; output goes to `nsk logs`
    #[arg(short = 'd', long, conflicts_with = "tty")]
    pub detach: bool,
    /// Remove the container when its command exits
    #[arg(long)]
    pub rm: bool,
    /// Add a user namespace mapping the caller to root inside (lets a non-root user run)
    #[arg(long)]
    pub userns: bool,
    /// Keep every capability and leave /proc and /sys paths unmasked
    #[arg(long)]
    pub privileged: bool,
    /// Parent cgroup of the container's cgroups, relative to each hierarchy's root, without
    /// '..' (machine/nsk); nsk removes only the parents it created
    #[arg(long, value_name = "PATH", default_value = "nsk")]
    pub cgroup_parent: String,
    /// Command and arguments [default: the image's Entrypoint + Cmd, or /bin/sh]; with an
    /// image, they replace its Cmd and follow its Entrypoint, as docker does
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub cmd: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Unpack an image into the cache ahead of time (a tarball, an OCI layout directory,
    /// FILE:TAG or FILE@sha256:DIGEST)
    Import(ImageImportArgs),
    /// List cached images
    #[command(alias = "list")]
    Ls,
    /// Remove cached images (refused while a container uses one)
    #[command(alias = "remove")]
    Rm(ImageRmArgs),
}

#[derive(Debug, Args)]
pub struct ImageImportArgs {
    /// Image file or directory
    pub file: String,
    /// Name it NAME[:TAG] [default: the archive's own tags, or the file name]
    #[arg(long, value_name = "NAME[:TAG]")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImageRmArgs {
    /// NAME[:TAG], id or digest (or a unique prefix of 4+ hex digits); a name of an image that
    /// has other names removes that name only
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Also show nsk containers that are not running (docker ps -a)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Every group of isolated processes on the host (any runtime), one row per container
    #[arg(long, conflicts_with = "all")]
    pub host: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A PID, a container name or id (or unique prefix of 4+ characters) of any runtime,
    /// NAMESPACE/POD[/CONTAINER], or RUNTIME://NAME-OR-ID (docker, podman, containerd, cri-o, k8s, runc, crun, nsk)
    pub target: String,
}

#[derive(Debug, Args)]
#[command(after_help = "\
One of SRC and DST is TARGET:PATH (TARGET as for inspect; PATH as the container sees it,
relative paths from its /), the other a host path (start it with / or ./ if it holds a ':')
or - for a tar stream: `nsk cp TARGET:PATH -` writes PATH as a tar stream to stdout (its base
name as the top entry), `nsk cp - TARGET:DIR` extracts one from stdin into the existing
directory DIR (a leading / of an entry is stripped, a .. component stops the extraction, and
no entry is ever placed through a symlink).
A directory is copied recursively; SRC ending in /. copies its contents. An existing directory
DST receives SRC under its own name; otherwise DST is created or replaced. Symlinks are copied
as links, hard links within the copy stay links, modes and times are kept. Files copied into
a container belong to its root unless -a is given.")]
pub struct CpArgs {
    /// What to copy: TARGET:PATH, a host path, or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    pub src: std::ffi::OsString,
    /// Where to copy it: a host path, TARGET:PATH, or - (a tar stream on stdout)
    #[arg(value_name = "DST")]
    pub dst: std::ffi::OsString,
    /// Archive mode: keep uid and gid (mapped through the container's user namespace) and the
    /// extended attributes user.*, security.capability and trusted.*
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Follow a symlink SRC (the symlink itself is copied otherwise)
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// No progress, even on a terminal
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// nsk container names, or any runtime's containers (TARGET as for inspect)
    #[arg(required = true, value_name = "TARGET")]
    pub names: Vec<String>,
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short = 't', long, default_value = "10", value_name = "TIME")]
    pub time: Seconds,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// An nsk container name, or any runtime's container (TARGET as for inspect): its first
    /// process gets the signal
    #[arg(value_name = "TARGET")]
    pub name: String,
    /// Signal name or number (KILL, SIGTERM, 15)
    #[arg(default_value = "KILL")]
    pub signal: Signal,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Container names
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Kill running containers first, and ignore names that do not exist
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// An nsk container name, or any runtime's container (TARGET as for inspect)
    #[arg(value_name = "TARGET")]
    pub name: String,
    /// Keep printing new output until the container exits
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// A PID, a container name or id (or unique prefix of 4+ characters) of any runtime,
    /// NAMESPACE/POD[/CONTAINER], or RUNTIME://NAME-OR-ID
    pub target: String,
    #[command(flatten)]
    pub set: LimitSet,
    /// With --thaw: thaw a container its runtime paused (docker pause, podman pause, ctr task
    /// pause), leaving the runtime believing it paused
    #[arg(long, requires = "thaw")]
    pub force: bool,
    /// Show what would change, write nothing; every check of the real change is made, with the
    /// same status and message
    #[arg(long)]
    pub dry_run: bool,
    /// Put back the values from before nsk's first change, where they still hold what nsk wrote
    /// (a value changed since is left alone and named), and forget them
    #[arg(long, conflicts_with_all = ["set", "dry_run"])]
    pub reset: bool,
}

// Every change `nsk limit` can make, as one group that conflicts with `--reset`: an option
// added here is refused with `--reset` without being named anywhere else. (A plain comment: a
// doc comment here would become `nsk limit`'s about text once the verb's arguments are built.)
#[derive(Debug, Default, Args)]
#[group(id = "set", multiple = true, conflicts_with = "reset")]
pub struct LimitSet {
    /// Memory limit (512k, 256M, 1.5G, max)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<Size>,
    /// Memory plus swap limit, docker's meaning (v2: swap.max = this minus memory)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<Size>,
    /// Soft memory limit (v1 memory.soft_limit_in_bytes, v2 memory.low)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_reservation: Option<Size>,
    /// CPU limit as a number of CPUs (0.5, 2, max)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpus: Option<Cpus>,
    /// Relative CPU weight, v1 style (2-262144; converted to cpu.weight on v2 as runc does)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpu_shares: Option<CpuShares>,
    /// Relative CPU weight, v2 style (1-10000; converted to cpu.shares on v1)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpu_weight: Option<CpuWeight>,
    /// CPUs the processes may run on (0-3, 0,2)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<CpuList>,
    /// Maximum number of processes (N or max)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids: Option<Pids>,
    /// I/O weight (v2 io.weight 1-10000, v1 blkio.weight 10-1000)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub io_weight: Option<IoWeight>,
    /// Freeze every process of the cgroup
    #[arg(long, conflicts_with = "thaw")]
    pub freeze: bool,
    /// Thaw a frozen cgroup (refused when the container's runtime paused it, unless --force)
    #[arg(long)]
    pub thaw: bool,
}

#[derive(Debug, Args)]
pub struct EnterArgs {
    /// A PID, a container name or id (or unique prefix of 4+ characters) of any runtime,
    /// NAMESPACE/POD[/CONTAINER], or RUNTIME://NAME-OR-ID
    pub target: String,
    /// Join the mount namespace (with -i, -n, -p, -U, -C, --uts, --time: only those named)
    #[arg(short = 'm', long = "mount")]
    pub mnt: bool,
    /// Join the UTS namespace
    #[arg(long)]
    pub uts: bool,
    /// Join the IPC namespace
    #[arg(short = 'i', long)]
    pub ipc: bool,
    /// Join the network namespace
    #[arg(short = 'n', long)]
    pub net: bool,
    /// Join the PID namespace
    #[arg(short = 'p', long)]
    pub pid: bool,
    /// Join the user namespace
    #[arg(short = 'U', long = "userns")]
    pub userns: bool,
    /// Join the cgroup namespace
    #[arg(short = 'C', long = "cgroupns")]
    pub cgroupns: bool,
    /// Join the time namespace
    #[arg(long)]
    pub time: bool,
    /// Stay in nsk's own cgroups instead of joining the target's
    #[arg(long)]
    pub no_cgroup: bool,
    /// Working directory inside the target [default: the target's own]
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Set an environment variable on top of the target's (KEY=VAL)
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Run as USER[:GROUP] from the target's /etc/passwd and /etc/group [default: the target's identity]
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Enter without the target's confinement: nsk's capabilities, no seccomp filter, LSM label,
    /// no_new_privs or rlimits of the target's
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a PTY even when stdin is not a terminal
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,
    /// No PTY: the command gets nsk's stdin, stdout and stderr directly
    #[arg(short = 'T', long)]
    pub no_tty: bool,
    /// Show a host directory of tools (a static busybox, say) at /.nsk/tools, first in PATH, in
    /// a private view of the target's filesystem that the target never sees
    #[arg(long, value_name = "DIR")]
    pub tools: Option<PathBuf>,
    /// Command and arguments [default: the target's /bin/sh]
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}
