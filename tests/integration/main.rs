//! Integration tests: the real nsk binary against real namespaces and cgroups (as root).

mod cgroup;
mod cli;
mod confine;
mod cp;
mod docs;
mod enter;
mod faults;
mod image;
mod inspect;
mod limit;
mod run;
mod runtimes;
mod top;
mod trust;
mod util;
mod v2view;
