//! `fds()`: open file descriptors and what they point to.

use serde::Serialize;

use super::procfs::numbered_entries;
use super::sockets::{self, Socket};
use crate::budget;

#[derive(Debug, Serialize)]
pub(crate) struct Fd {
    fd: u32,
    kind: &'static str,
    target: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    socket: Option<Socket>,
}

pub(crate) fn fds() -> Result<Vec<Fd>, String> {
    let numbers = numbered_entries("fd")?;
    let sockets = sockets::by_inode();
    let listing_dir = format!("/proc/{}/fd", std::process::id());
    Ok(budget::within(numbers)
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            let target = target.to_string_lossy().into_owned();
            // The descriptor that lists the directory is ours, not the host's.
            if target == listing_dir {
                return None;
            }
            budget::charge_lazily(std::mem::size_of::<Fd>() + target.len());
            let (kind, socket) = classify(&target, &sockets);
            Some(Fd {
                fd,
                kind,
                target,
                socket,
            })
        })
        .collect())
}

fn classify(
    target: &str,
    sockets: &std::collections::HashMap<u64, Socket>,
) -> (&'static str, Option<Socket>) {
    let inode = |prefix: &str| {
        target
            .strip_prefix(prefix)?
            .strip_suffix(']')?
            .parse::<u64>()
            .ok()
    };
    if let Some(inode) = inode("socket:[") {
        return ("socket", sockets.get(&inode).cloned());
    }
    if target.starts_with("pipe:[") {
        return ("pipe", None);
    }
    if target.starts_with("anon_inode:") {
        return ("anon", None);
    }
    if target.starts_with("/memfd:") {
        return ("memfd", None);
    }
    if target.starts_with("/dev/") {
        return ("device", None);
    }
    ("file", None)
}
