//! Reading `/proc/self`: the helpers the built-ins share.

use attach_protocol::procfs::ProcStat;

/// Reads a `/proc/self` file; errors name the file.
pub(crate) fn read_proc(file: &str) -> Result<String, String> {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .map_err(|err| format!("cannot read /proc/self/{file}: {err}"))
}

/// The numeric entries of a `/proc/self` directory (`fd`, `task`), in order.
pub(crate) fn numbered_entries(dir: &str) -> Result<Vec<u32>, String> {
    let entries = std::fs::read_dir(format!("/proc/self/{dir}"))
        .map_err(|err| format!("cannot list /proc/self/{dir}: {err}"))?;
    let mut numbers: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Clock ticks per second, for the tick counts in `/proc/*/stat`.
pub(crate) fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |ticks| ticks as u64)
}

/// Seconds since this process started, from its start time in `/proc/self/stat`
/// and `/proc/uptime`, to the hundredth.
pub(crate) fn process_uptime() -> Option<f64> {
    let start_ticks = ProcStat::read("/proc/self/stat")?.start_ticks as f64;
    let boot_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let seconds = (boot_uptime - start_ticks / ticks_per_second() as f64).max(0.0);
    Some((seconds * 100.0).round() / 100.0)
}
