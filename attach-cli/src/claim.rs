//! Creating the session's FIFOs so that nobody else can plant or steal them.
//!
//! The request FIFO is created under a private temporary name, opened, checked and
//! locked (`flock`), and only then renamed to `/tmp/<pid>.pipe` with
//! `RENAME_NOREPLACE`, which fails if anything is already there: the well-known path
//! never shows an unlocked FIFO of ours. A FIFO already at the path is then judged:
//! * not a FIFO, a symlink, someone else's, or loosely permitted: refused (planted);
//! * ours and locked: another live session (busy);
//! * ours and unlocked: left by a crashed client (stale): removed, with its reply FIFOs.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use attach_protocol::fifo::{check_fd, open_checked, Access, FifoError, FifoOwner};
use attach_protocol::{FifoPaths, Token};
use nix::errno::Errno;
use nix::fcntl::{renameat2, Flock, FlockArg, RenameFlags, AT_FDCWD};
use nix::sys::stat::{fchmod, Mode};
use nix::unistd::{fchown, mkfifo, Uid};

use crate::error::ConnectError;

/// A FIFO we created; unlinked on drop unless it was handed on.
pub(crate) struct CreatedPath(Option<PathBuf>);

impl CreatedPath {
    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().expect("path is set until drop")
    }

    /// The file was moved away: nothing to remove any more.
    fn forget(mut self) {
        self.0 = None;
    }
}

impl Drop for CreatedPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The locked request FIFO, open read-write so the agent never sees a premature EOF.
/// Field order matters: the path is unlinked before the lock is released.
pub(crate) struct RequestFifo {
    _published: CreatedPath,
    pub(crate) fd: Flock<OwnedFd>,
}

/// Creates, locks and publishes `/tmp/<pid>.pipe`, owned by `owner`.
pub(crate) fn claim_request(
    paths: &FifoPaths,
    token: &Token,
    owner: u32,
) -> Result<RequestFifo, ConnectError> {
    let private = paths.dir().join(format!(
        ".{}.{}.request",
        token.as_str(),
        std::process::id()
    ));
    let (fd, private) = make_fifo(&private, Access::ReadWrite, owner)?;
    let fd = Flock::lock(fd, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| ConnectError::io("cannot lock the new request FIFO", errno))?;
    let public = paths.request();
    for _ in 0..3 {
        match renameat2(
            AT_FDCWD,
            private.path(),
            AT_FDCWD,
            &public,
            RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {
                private.forget();
                return Ok(RequestFifo {
                    _published: CreatedPath(Some(public)),
                    fd,
                });
            }
            Err(Errno::EEXIST) => remove_if_stale(paths, &public, owner)?,
            Err(errno) => {
                return Err(ConnectError::io(
                    format!("cannot create {}", public.display()),
                    errno,
                ))
            }
        }
    }
    Err(ConnectError::Busy {
        pid: paths.pid(),
        path: public,
    })
}

/// Creates the reply FIFO for this session, open for reading.
pub(crate) fn create_reply(
    paths: &FifoPaths,
    token: &Token,
    owner: u32,
) -> Result<(OwnedFd, CreatedPath), ConnectError> {
    make_fifo(&paths.reply(token), Access::Read, owner)
}

fn make_fifo(
    path: &Path,
    access: Access,
    owner: u32,
) -> Result<(OwnedFd, CreatedPath), ConnectError> {
    match mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            return Err(ConnectError::Planted {
                path: path.to_owned(),
                reason: "something already exists at this unpredictable name".into(),
            })
        }
        Err(errno) => {
            return Err(ConnectError::io(
                format!("cannot create the FIFO {}", path.display()),
                errno,
            ))
        }
    }
    let created = CreatedPath(Some(path.to_owned()));
    let me = nix::unistd::geteuid().as_raw();
    let (fd, stat) =
        open_checked(path, access, FifoOwner::Uid(me)).map_err(|err| planted(path, err))?;
    if stat.st_mode & 0o600 != 0o600 {
        // A strict umask took our own bits away; give them back.
        fchmod(fd.as_fd(), Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|errno| ConnectError::io("cannot set FIFO mode", errno))?;
    }
    if owner != me {
        // Root attaching to a service user's process: the agent must own its FIFOs.
        fchown(fd.as_fd(), Some(Uid::from_raw(owner)), None).map_err(|errno| {
            ConnectError::io(
                format!("cannot hand {} to uid {owner}", path.display()),
                errno,
            )
        })?;
        check_fd(&fd, path, FifoOwner::Uid(owner)).map_err(|err| planted(path, err))?;
    }
    Ok((fd, created))
}

/// Removes a FIFO left at `public` by a crashed client; refuses anything else.
fn remove_if_stale(paths: &FifoPaths, public: &Path, owner: u32) -> Result<(), ConnectError> {
    let existing = match open_checked(public, Access::ReadWrite, FifoOwner::Uid(owner)) {
        Ok((fd, _)) => fd,
        Err(FifoError::Missing { .. }) => return Ok(()),
        Err(err) => return Err(planted(public, err)),
    };
    let existing = match Flock::lock(existing, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((_, Errno::EWOULDBLOCK)) => {
            return Err(ConnectError::Busy {
                pid: paths.pid(),
                path: public.to_owned(),
            })
        }
        Err((_, errno)) => {
            return Err(ConnectError::io(
                format!("cannot lock {}", public.display()),
                errno,
            ))
        }
    };
    // Unlink only the very FIFO we locked, not one a racing client just linked.
    let same_inode = std::fs::symlink_metadata(public)
        .ok()
        .zip(nix::sys::stat::fstat(existing.as_fd()).ok())
        .is_some_and(|(meta, stat)| meta.ino() == stat.st_ino && meta.dev() == stat.st_dev);
    if same_inode {
        let _ = std::fs::remove_file(public);
        sweep_replies(paths, owner);
    }
    drop(existing);
    Ok(())
}

/// Removes reply FIFOs of this pid that crashed sessions of `owner` left behind.
/// Only called while no live session can exist (we hold the stale request's lock).
fn sweep_replies(paths: &FifoPaths, owner: u32) {
    let Ok(entries) = std::fs::read_dir(paths.dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !paths.is_reply_name(name) {
            continue;
        }
        let ours = entry.metadata().is_ok_and(|meta| {
            meta.file_type().is_fifo() && meta.uid() == owner && meta.mode() & 0o077 == 0
        });
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn planted(path: &Path, err: FifoError) -> ConnectError {
    ConnectError::Planted {
        path: path.to_owned(),
        reason: err.to_string(),
    }
}
