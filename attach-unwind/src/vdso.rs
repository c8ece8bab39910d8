//! The kernel's vDSO as the target maps it: a small ELF image with no file behind it
//! (`[vdso]` in `/proc/<pid>/maps`). A thread in `clock_gettime` or `gettimeofday`
//! is inside it, so without its `.eh_frame` the walk would end there, and without its
//! symbols the frame would have no name.
//!
//! The image is read from the target's memory, not from the helper's own vDSO: the two
//! match only when both run on the same kernel, which a container shares but a
//! checkpointed and restored process need not. It is read once, before any thread
//! stops, and never written.

use std::ops::Range;

use nix::unistd::Pid;

use crate::memory;

/// The name `/proc/<pid>/maps` gives the vDSO, and the module name its frames carry.
pub(crate) const NAME: &str = "[vdso]";
/// Larger than any vDSO (x86_64 and aarch64 ship 8 KiB); a bigger `[vdso]` is left out.
const MAX_SIZE: u64 = 64 * 1024;

/// The vDSO's bytes, copied out of process `pid`; `None` when too large or unreadable.
pub(crate) fn read(pid: u32, avma: &Range<u64>) -> Option<Vec<u8>> {
    let size = avma.end.checked_sub(avma.start)?;
    if size == 0 || size > MAX_SIZE {
        return None;
    }
    let mut image = vec![0u8; size as usize];
    memory::read_exact(Pid::from_raw(pid as i32), avma.start, &mut image).then_some(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Names;
    use object::{Object, ObjectSymbol};

    /// This process's own `[vdso]` mapping.
    fn own_vdso() -> Range<u64> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|line| line.ends_with(NAME)).unwrap();
        let (start, end) = line.split(' ').next().unwrap().split_once('-').unwrap();
        u64::from_str_radix(start, 16).unwrap()..u64::from_str_radix(end, 16).unwrap()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn reads_a_vdso_and_names_its_clock_functions() {
        let image = read(std::process::id(), &own_vdso()).expect("the vdso is readable");
        let names = Names::of(&*image);
        let elf = object::File::parse(&*image).unwrap();
        let clock = elf
            .dynamic_symbols()
            .find(|symbol| symbol.name() == Ok("clock_gettime"))
            .expect("a clock_gettime in the vdso");
        assert!(clock.is_weak());
        assert_eq!(
            names.find(clock.address() + 1),
            Some("__vdso_clock_gettime"),
            "the global name wins over its weak alias"
        );
        assert_eq!(names.find(0), None);
        assert!(elf.section_by_name(".eh_frame").is_some());
    }

    #[test]
    fn refuses_an_empty_or_oversized_mapping() {
        assert_eq!(read(std::process::id(), &(0x1000..0x1000)), None);
        assert_eq!(read(std::process::id(), &(0..MAX_SIZE + 4096)), None);
    }
}
