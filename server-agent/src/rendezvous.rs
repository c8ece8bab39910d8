//! Where clients leave their FIFOs for the agent: the shared `/tmp`, and a private
//! directory only the agent's uid can write to.
//!
//! Another local user can plant `/tmp/<pid>.pipe` for every pid, and the owner cannot
//! remove it from a sticky `/tmp`. So at install the agent makes a mode-0700 directory
//! with an unpredictable name (`/tmp/.attach-<pid>.<random>`) and announces it to
//! same-uid readers; a client that finds the shared name planted uses it instead.
//!
//! Both directories are held open and used through `*at` calls only. This module
//! creates that one directory and removes only empty ones its uid left behind; it
//! never touches a client's FIFOs.

use std::path::Path;

use attach_protocol::paths::{private_dir_name, private_dir_pid, FIFO_DIR};
use attach_protocol::{Dir, DirKind, Token};
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use tracing::warn;

/// The directories the agent looks in, shared first.
pub(crate) struct Rendezvous {
    pub(crate) shared: Option<Dir>,
    /// The private directory, and its path for the announcement.
    pub(crate) private: Option<(Dir, String)>,
}

impl Rendezvous {
    /// Opens `/tmp` and makes the private directory of `pid`. A directory that cannot
    /// be had is logged and left out: the agent then waits on the other one.
    pub(crate) fn prepare(pid: u32) -> Rendezvous {
        let shared = Dir::own(Path::new(FIFO_DIR), DirKind::Shared)
            .map_err(
                |err| warn!(target: "attach::agent", %err, "the shared FIFO directory is unusable"),
            )
            .ok();
        let private = shared.as_ref().and_then(|tmp| {
            sweep_abandoned(tmp);
            make_private(tmp, pid)
                .map_err(|err| warn!(target: "attach::agent", %err, "no private FIFO directory"))
                .ok()
        });
        Rendezvous { shared, private }
    }

    /// The directories to look in, each with the name the audit log gives it.
    pub(crate) fn each(&self) -> impl Iterator<Item = (&Dir, &'static str)> {
        let shared = self.shared.iter().map(|dir| (dir, "shared"));
        let private = self.private.iter().map(|(dir, _)| (dir, "private"));
        shared.chain(private)
    }
}

fn make_private(tmp: &Dir, pid: u32) -> Result<(Dir, String), String> {
    let nonce = Token::generate().map_err(|err| format!("no random name: {err}"))?;
    let name = private_dir_name(pid, &nonce);
    mkdirat(tmp, name.as_str(), Mode::S_IRWXU).map_err(|errno| format!("mkdir {name}: {errno}"))?;
    let uid = nix::unistd::geteuid().as_raw();
    let dir = tmp
        .child(&name, DirKind::Private { uid })
        .map_err(|err| err.to_string())?;
    let path = dir.path().display().to_string();
    Ok((dir, path))
}

/// Removes empty private directories of our uid whose process is gone (a worker
/// killed with SIGKILL cannot remove its own).
fn sweep_abandoned(tmp: &Dir) {
    let Ok(entries) = std::fs::read_dir(tmp.path()) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(pid) = private_dir_pid(&name) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let ours = fstatat(tmp, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|stat| {
            stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() && stat.st_uid == me
        });
        if ours {
            // Fails, harmlessly, if a crashed client left a FIFO in it.
            let _ = unlinkat(tmp, name.as_str(), UnlinkatFlags::RemoveDir);
        }
    }
}
