//! Creating the session's FIFOs so that nobody else can plant or steal them.
//!
//! Every operation is relative to the session's checked directory handle
//! (`attach_protocol::Dir`), never a path that could be re-resolved elsewhere.
//!
//! The request FIFO is created under a temporary name made of a random nonce (never
//! the session token: the token first appears in a name when its reply FIFO is
//! created, so nobody can plant that name first), opened, checked and locked
//! (`flock`), and only then renamed to `<pid>.pipe` with `RENAME_NOREPLACE`, which
//! fails if anything is already there: the well-known name never shows an unlocked
//! FIFO of ours. A FIFO already at the name is then judged:
//! * not a FIFO, a symlink, someone else's, or loosely permitted: refused (planted);
//! * ours and locked: another live session (busy);
//! * ours and unlocked: left by a crashed client (stale): removed, with its reply FIFOs.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use attach_protocol::fifo::{check_fd, open_checked, Access, FifoError, FifoOwner};
use attach_protocol::{Dir, FifoPaths, Token};
use nix::errno::Errno;
use nix::fcntl::{renameat2, AtFlags, Flock, FlockArg, RenameFlags};
use nix::sys::stat::{fchmod, fstat, fstatat, Mode, SFlag};
use nix::unistd::{fchown, mkfifoat, unlinkat, Uid, UnlinkatFlags};

use crate::error::ConnectError;
use crate::options::ConnectOptions;
use crate::target::Target;

/// A FIFO we created; unlinked on drop unless it was handed on.
pub(crate) struct CreatedPath {
    dir: Arc<Dir>,
    name: Option<String>,
}

impl CreatedPath {
    /// The file was moved away: nothing to remove any more.
    fn forget(mut self) {
        self.name = None;
    }
}

impl Drop for CreatedPath {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = unlinkat(&*self.dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The locked request FIFO, open read-write so the agent never sees a premature EOF.
/// Field order matters: the name is unlinked before the lock is released.
pub(crate) struct RequestFifo {
    _published: CreatedPath,
    pub(crate) fd: Flock<OwnedFd>,
}

/// Creates, locks and publishes `<pid>.pipe` in `dir`, owned by `owner`.
pub(crate) fn claim_request(
    dir: &Arc<Dir>,
    paths: &FifoPaths,
    owner: u32,
) -> Result<RequestFifo, ConnectError> {
    let nonce = Token::generate()
        .map_err(|err| ConnectError::io("cannot draw a random name for the request FIFO", err))?;
    let private = format!(".{}.{}.request", nonce.as_str(), std::process::id());
    let (fd, private) = make_fifo(dir, &private, Access::ReadWrite, owner)?;
    let fd = Flock::lock(fd, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| ConnectError::io("cannot lock the new request FIFO", errno))?;
    let public = paths.request_name();
    for _ in 0..3 {
        let from = private.name.as_deref().expect("set until published");
        match renameat2(
            &**dir,
            from,
            &**dir,
            public.as_str(),
            RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {
                private.forget();
                return Ok(RequestFifo {
                    _published: CreatedPath {
                        dir: dir.clone(),
                        name: Some(public),
                    },
                    fd,
                });
            }
            Err(Errno::EEXIST) => remove_if_stale(dir, paths, owner)?,
            Err(errno) => {
                return Err(ConnectError::io(
                    format!("cannot create {}", dir.shown(&public).display()),
                    errno,
                ))
            }
        }
    }
    Err(ConnectError::Busy {
        pid: paths.pid(),
        path: dir.shown(&public),
    })
}

/// Publishes the request FIFO in the target's shared `/tmp` or, if someone planted
/// its name there, in the agent's private directory (saying so through `notice`).
pub(crate) fn publish_request(
    target: &Target,
    options: &ConnectOptions,
) -> Result<(Arc<Dir>, RequestFifo), ConnectError> {
    let shared = Arc::new(target.shared_dir()?);
    let planted = match claim_request(&shared, &target.paths, target.uid) {
        Ok(request) => return Ok((shared, request)),
        Err(planted @ ConnectError::Planted { .. }) => planted,
        Err(other) => return Err(other),
    };
    let Some(private) = target.private_dir() else {
        return Err(planted);
    };
    let private = Arc::new(private?);
    (options.notice)(&format!(
        "{planted}\nattach: using the agent's private directory {} instead",
        private.path().display()
    ));
    let request = claim_request(&private, &target.paths, target.uid)?;
    Ok((private, request))
}

/// Creates the reply FIFO for this session in `dir`, open for reading.
pub(crate) fn create_reply(
    dir: &Arc<Dir>,
    paths: &FifoPaths,
    token: &Token,
    owner: u32,
) -> Result<(OwnedFd, CreatedPath), ConnectError> {
    make_fifo(dir, &paths.reply_name(token), Access::Read, owner)
}

fn make_fifo(
    dir: &Arc<Dir>,
    name: &str,
    access: Access,
    owner: u32,
) -> Result<(OwnedFd, CreatedPath), ConnectError> {
    let path = dir.shown(name);
    match mkfifoat(&**dir, name, Mode::S_IRUSR | Mode::S_IWUSR) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            return Err(ConnectError::Planted {
                path,
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
    let created = CreatedPath {
        dir: dir.clone(),
        name: Some(name.to_owned()),
    };
    let me = nix::unistd::geteuid().as_raw();
    let (fd, stat) =
        open_checked(dir, name, access, FifoOwner::Uid(me)).map_err(|err| planted(&path, err))?;
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
        check_fd(&fd, &path, FifoOwner::Uid(owner)).map_err(|err| planted(&path, err))?;
    }
    Ok((fd, created))
}

/// Removes a FIFO left at `<pid>.pipe` by a crashed client; refuses anything else.
fn remove_if_stale(dir: &Dir, paths: &FifoPaths, owner: u32) -> Result<(), ConnectError> {
    let public = paths.request_name();
    let shown = dir.shown(&public);
    let existing = match open_checked(dir, &public, Access::ReadWrite, FifoOwner::Uid(owner)) {
        Ok((fd, _)) => fd,
        Err(FifoError::Missing { .. }) => return Ok(()),
        Err(err) => return Err(planted(&shown, err)),
    };
    let existing = match Flock::lock(existing, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((_, Errno::EWOULDBLOCK)) => {
            return Err(ConnectError::Busy {
                pid: paths.pid(),
                path: shown,
            })
        }
        Err((_, errno)) => {
            return Err(ConnectError::io(
                format!("cannot lock {}", shown.display()),
                errno,
            ))
        }
    };
    // Unlink only the very FIFO we locked, not one a racing client just linked.
    let same_inode = fstatat(dir, public.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        .ok()
        .zip(fstat(existing.as_fd()).ok())
        .is_some_and(|(named, locked)| {
            named.st_ino == locked.st_ino && named.st_dev == locked.st_dev
        });
    if same_inode {
        let _ = unlinkat(dir, public.as_str(), UnlinkatFlags::NoRemoveDir);
        sweep_replies(dir, paths, owner);
    }
    drop(existing);
    Ok(())
}

/// Removes reply FIFOs of this pid that crashed sessions of `owner` left behind.
/// Only called while no live session can exist (we hold the stale request's lock).
fn sweep_replies(dir: &Dir, paths: &FifoPaths, owner: u32) {
    // Lists the very directory we hold (through its descriptor), not a path.
    let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()))
    else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !paths.is_reply_name(name) {
            continue;
        }
        let ours = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|stat| {
            stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFIFO.bits()
                && stat.st_uid == owner
                && stat.st_mode & 0o077 == 0
        });
        if ours {
            let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
        }
    }
}

fn planted(path: &Path, err: FifoError) -> ConnectError {
    ConnectError::Planted {
        path: path.to_owned(),
        reason: err.to_string(),
    }
}
