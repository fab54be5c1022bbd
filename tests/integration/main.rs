//! Integration tests: the real nsk binary against real namespaces and cgroups (as root).

mod cgroup;
mod cli;
mod docs;
mod enter;
mod image;
mod inspect;
mod limit;
mod run;
mod runtimes;
mod util;
mod v2view;
