//! Reading `/proc/<pid>/status` and `/proc/<pid>/stat`: the facts about a process
//! both sides check (who runs it, which signals it catches or blocks, how it names
//! itself), parsed in one place.
//!
//! Values are read once into memory and parsed from there; nothing here follows a
//! path the process itself controls, and nothing changes any process. Files are read
//! into a page-sized buffer (`read_small`): `std::fs::read_to_string` asks for the
//! size (0 for `/proc` files) and then reads in growing steps from 32 bytes, eight
//! system calls for a `status` file where one does.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Large enough for `/proc/<pid>/status` and `stat` in one read.
const FIRST_READ: usize = 4096;

/// The fields of one `status` file (`/proc/<pid>/status` or a task's).
#[derive(Debug, Clone)]
pub struct ProcStatus(String);

impl ProcStatus {
    /// Reads `/proc/<pid>/status`.
    pub fn of_pid(pid: u32) -> std::io::Result<ProcStatus> {
        ProcStatus::read(format!("/proc/{pid}/status"))
    }

    /// Reads a status file by path (`/proc/self/status`, `/proc/<pid>/task/<tid>/status`).
    pub fn read(path: impl AsRef<Path>) -> std::io::Result<ProcStatus> {
        read_small(path).map(ProcStatus)
    }

    /// The value of `key` (e.g. `"Name"`, `"VmRSS"`), trimmed.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name == key).then_some(value.trim())
        })
    }

    /// The process (or thread) name.
    pub fn name(&self) -> Option<&str> {
        self.field("Name")
    }

    /// The effective uid (the second number of `Uid:`).
    pub fn euid(&self) -> Option<u32> {
        self.field("Uid")?.split_whitespace().nth(1)?.parse().ok()
    }

    /// The first number of a field: a size in kB (`VmRSS`) or a count (`Threads`).
    pub fn number(&self, key: &str) -> Option<u64> {
        self.field(key)?.split_whitespace().next()?.parse().ok()
    }

    /// Whether signal `signo` is in a signal mask field (`SigCgt`, `SigBlk`...).
    pub fn has_signal(&self, key: &str, signo: i32) -> Option<bool> {
        let mask = u64::from_str_radix(self.field(key)?, 16).ok()?;
        let bit = u32::try_from(signo - 1)
            .ok()
            .and_then(|b| 1u64.checked_shl(b))?;
        Some(mask & bit != 0)
    }

    /// The pid as the process's own pid namespace sees it (the last `NSpid` entry).
    pub fn namespaced_pid(&self) -> Option<u32> {
        self.field("NSpid")?.split_whitespace().last()?.parse().ok()
    }

    /// True if the process lives in the pid namespace of the mounted `/proc` (one
    /// `NSpid` entry): it numbers its threads as `/proc` does. None on kernels
    /// without `NSpid`.
    pub fn in_proc_pid_namespace(&self) -> Option<bool> {
        Some(self.field("NSpid")?.split_whitespace().count() == 1)
    }
}

impl From<String> for ProcStatus {
    fn from(text: String) -> ProcStatus {
        ProcStatus(text)
    }
}

/// What one `stat` file (`/proc/<pid>/stat` or a task's) says about who it is and
/// whether it still runs, from a single read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The name (`comm`, field 2).
    pub comm: String,
    /// The state letter (field 3): `R`, `S`, `Z`…
    pub state: char,
    /// CPU time in user mode, in clock ticks (field 14).
    pub user_ticks: u64,
    /// CPU time in kernel mode, in clock ticks (field 15).
    pub system_ticks: u64,
    /// The start time in clock ticks since boot (field 22), which tells a restarted
    /// pid or a reused tid apart.
    pub start_ticks: u64,
}

impl ProcStat {
    /// Reads `/proc/<pid>/stat`.
    pub fn of_pid(pid: u32) -> Option<ProcStat> {
        ProcStat::read(format!("/proc/{pid}/stat"))
    }

    /// Reads `/proc/<pid>/task/<tid>/stat`.
    pub fn of_thread(pid: u32, tid: u32) -> Option<ProcStat> {
        ProcStat::read(format!("/proc/{pid}/task/{tid}/stat"))
    }

    /// Reads a stat file by path (`/proc/self/task/<tid>/stat`).
    pub fn read(path: impl AsRef<Path>) -> Option<ProcStat> {
        ProcStat::parse(&read_small(path).ok()?)
    }

    fn parse(stat: &str) -> Option<ProcStat> {
        // The name is in parentheses and may hold spaces or ')': it runs from the
        // first '(' to the last ')', and the other fields are counted after it
        // (`after[0]` is field 3).
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let after: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
        let number = |index: usize| after.get(index)?.parse().ok();
        Some(ProcStat {
            comm: stat.get(open + 1..close)?.to_owned(),
            state: after.first()?.chars().next()?,
            user_ticks: number(11)?,
            system_ticks: number(12)?,
            start_ticks: number(19)?,
        })
    }

    /// False for a process that has exited (a zombie, or dead).
    pub fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// The whole text of a small file, normally in one `read(2)` (and the one that
/// sees the end).
pub fn read_small(path: impl AsRef<Path>) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut bytes = vec![0u8; FIRST_READ];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(bytes.len() * 2, 0);
        }
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    bytes.truncate(len);
    String::from_utf8(bytes).map_err(|err| std::io::Error::new(ErrorKind::InvalidData, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tmy worker\nUid:\t1000\t1001\t1000\t1000\n\
        VmRSS:\t  2048 kB\nSigCgt:\t0000000000000200\nNSpid:\t4242\t1\n";

    #[test]
    fn fields_parse() {
        let status = ProcStatus::from(STATUS.to_owned());
        assert_eq!(status.name(), Some("my worker"));
        assert_eq!(status.euid(), Some(1001));
        assert_eq!(status.number("VmRSS"), Some(2048));
        assert_eq!(status.has_signal("SigCgt", 10), Some(true));
        assert_eq!(status.has_signal("SigCgt", 12), Some(false));
        assert_eq!(status.has_signal("SigCgt", 0), None);
        assert_eq!(status.namespaced_pid(), Some(1));
        assert_eq!(status.field("Vm"), None, "keys match whole names");
    }

    #[test]
    fn stat_fields_parse_past_a_name_with_parentheses() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 \
            1 0 987654 1234 56 18446744073709551615\n";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start_ticks, 987654);
        assert_eq!((stat.user_ticks, stat.system_ticks), (7, 3));
        assert!(ProcStat::parse("4242 (zombie) Z").is_none(), "too short");
    }

    #[test]
    fn our_own_status_reads() {
        let status = ProcStatus::of_pid(std::process::id()).unwrap();
        assert_eq!(status.euid(), Some(nix::unistd::geteuid().as_raw()));
        let stat = ProcStat::of_pid(std::process::id()).unwrap();
        assert!(stat.is_running() && stat.start_ticks > 0);
    }

    #[test]
    fn files_larger_than_the_first_read_are_read_whole() {
        let path = std::env::temp_dir().join(format!("attach-procfs-{}", std::process::id()));
        let text = "x".repeat(3 * FIRST_READ + 7);
        std::fs::write(&path, &text).unwrap();
        let read = read_small(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), text);
    }
}
