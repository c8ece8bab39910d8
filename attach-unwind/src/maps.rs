//! The ELF files mapped into the target, with their unwind tables, read before any
//! thread stops so that a thread's pause is only its own walk.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use framehop::{ExplicitModuleSectionInfo, MayAllocateDuringUnwind, Module, Unwinder as _};
use object::{Object, ObjectSection, ObjectSegment};

use crate::names::Names;
use crate::{vdso, UnwindError};

pub(crate) type Unwinder = framehop::UnwinderNative<Vec<u8>, MayAllocateDuringUnwind>;

/// Where a module's names come from.
pub(crate) enum Origin {
    /// A file, opened under `/proc/<pid>/root` as the target sees it.
    File(PathBuf),
    /// The vDSO, named from its own symbol table.
    Vdso(Names<Vec<u8>>),
}

/// One mapped ELF image.
pub(crate) struct Mapped {
    pub(crate) origin: Origin,
    /// Its file name, for frames without a symbol.
    pub(crate) name: String,
    pub(crate) avma: Range<u64>,
    /// Load bias: the target's address minus the address stated in the file.
    pub(crate) bias: u64,
}

pub(crate) struct Modules {
    /// Sorted by start address.
    pub(crate) mapped: Vec<Mapped>,
    pub(crate) unwinder: Unwinder,
    /// Every mapping, sorted: where a thread's stack ends.
    regions: Vec<Range<u64>>,
}

/// A file's mappings: the lowest-offset one fixes the bias, all of them the range.
struct Mappings {
    avma: Range<u64>,
    first_start: u64,
    first_offset: u64,
}

/// What `/proc/<pid>/maps` lists that the walk needs.
#[derive(Default)]
struct Layout {
    /// Mapped files by absolute path.
    files: BTreeMap<String, Mappings>,
    vdso: Option<Range<u64>>,
    /// Every mapping, in the (ascending) order of the file.
    regions: Vec<Range<u64>>,
}

impl Modules {
    pub(crate) fn load(pid: u32) -> Result<Modules, UnwindError> {
        let maps_path = format!("/proc/{pid}/maps");
        let maps = std::fs::read_to_string(&maps_path).map_err(|source| UnwindError::Proc {
            path: maps_path,
            source,
        })?;
        let layout = parse(&maps);
        let mut modules = Modules {
            mapped: Vec::new(),
            unwinder: Unwinder::new(),
            regions: layout.regions,
        };
        let executable = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        for (path, mappings) in layout.files {
            let Some(opened) = where_to_open(pid, &path, executable.as_deref()) else {
                continue;
            };
            let path = path.strip_suffix(DELETED).unwrap_or(&path);
            let name = path.rsplit('/').next().unwrap_or(path).to_owned();
            modules.add_file(name, opened, mappings);
        }
        if let Some(avma) = layout.vdso {
            modules.add_vdso(pid, avma);
        }
        modules.mapped.sort_by_key(|module| module.avma.start);
        Ok(modules)
    }

    fn add_file(&mut self, name: String, opened: PathBuf, mappings: Mappings) {
        let Some(data) = map_file(&opened) else {
            return;
        };
        if let Ok(elf) = object::File::parse(&*data) {
            self.add(name, Origin::File(opened), &elf, mappings);
        }
    }

    fn add_vdso(&mut self, pid: u32, avma: Range<u64>) {
        let Some(image) = vdso::read(pid, &avma) else {
            return;
        };
        if let Ok(elf) = object::File::parse(&*image) {
            let mappings = Mappings {
                first_start: avma.start,
                first_offset: 0,
                avma,
            };
            let names = Names::of(image.clone());
            self.add(vdso::NAME.to_owned(), Origin::Vdso(names), &elf, mappings);
        }
    }

    /// Hands the image's unwind tables to framehop; leaves it out if no segment
    /// covers its first mapping.
    fn add(&mut self, name: String, origin: Origin, elf: &object::File, mappings: Mappings) {
        let Some((bias, sections)) = unwind_sections(elf, &mappings) else {
            return;
        };
        self.unwinder.add_module(Module::new(
            name.clone(),
            mappings.avma.clone(),
            bias,
            sections,
        ));
        self.mapped.push(Mapped {
            origin,
            name,
            avma: mappings.avma,
            bias,
        });
    }

    /// The end of the mapping that holds `address` (for a stack pointer: the top of
    /// that thread's stack), found without allocating.
    pub(crate) fn mapping_end(&self, address: u64) -> Option<u64> {
        let index = self
            .regions
            .partition_point(|region| region.start <= address)
            .checked_sub(1)?;
        let region = &self.regions[index];
        region.contains(&address).then_some(region.end)
    }

    pub(crate) fn find(&self, address: u64) -> Option<(usize, &Mapped)> {
        let index = self
            .mapped
            .partition_point(|module| module.avma.start <= address)
            .checked_sub(1)?;
        let module = &self.mapped[index];
        module.avma.contains(&address).then_some((index, module))
    }
}

/// A module's file, mapped read-only; `None` when it cannot be opened or mapped.
pub(crate) fn map_file(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the map is read-only and private; the file is a mapped library or
    // executable, which is not rewritten in place while in use.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// `start-end perms offset dev inode path` lines: files grouped by absolute path,
/// and the vDSO.
fn parse(maps: &str) -> Layout {
    let mut layout = Layout::default();
    for line in maps.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(_perms), Some(offset), Some(_dev), Some(_inode), Some(path)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let Some((start, end, offset)) = range.split_once('-').and_then(|(start, end)| {
            Some((
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
                u64::from_str_radix(offset, 16).ok()?,
            ))
        }) else {
            continue;
        };
        layout.regions.push(start..end);
        let path = path.trim_start();
        if path == vdso::NAME {
            layout.vdso = Some(start..end);
        }
        if !path.starts_with('/') {
            continue;
        }
        let entry = layout.files.entry(path.to_owned()).or_insert(Mappings {
            avma: start..end,
            first_start: start,
            first_offset: offset,
        });
        entry.avma = entry.avma.start.min(start)..entry.avma.end.max(end);
        if offset < entry.first_offset {
            entry.first_start = start;
            entry.first_offset = offset;
        }
    }
    layout
}

/// What `/proc/<pid>/maps` appends to a file unlinked since it was mapped.
const DELETED: &str = " (deleted)";

/// The target's file as the target sees it. A deleted file can still be read when it
/// is the executable (a binary replaced by a deploy), through `/proc/<pid>/exe`;
/// other deleted files are left out and their frames stay unnamed.
fn where_to_open(pid: u32, path: &str, executable: Option<&Path>) -> Option<PathBuf> {
    if !path.ends_with(DELETED) {
        return Some(PathBuf::from(format!("/proc/{pid}/root{path}")));
    }
    (executable == Some(Path::new(path))).then(|| PathBuf::from(format!("/proc/{pid}/exe")))
}

/// The load bias and the sections framehop needs.
fn unwind_sections(
    elf: &object::File,
    mappings: &Mappings,
) -> Option<(u64, ExplicitModuleSectionInfo<Vec<u8>>)> {
    let offset = mappings.first_offset;
    let bias = elf.segments().find_map(|segment| {
        let (file_start, size) = segment.file_range();
        let page_start = file_start & !0xfff;
        (page_start <= offset && offset < file_start + size).then(|| {
            mappings
                .first_start
                .wrapping_sub(offset)
                .wrapping_sub(segment.address().wrapping_sub(file_start))
        })
    })?;
    let range = |name: &str| {
        elf.section_by_name(name)
            .map(|section| section.address()..section.address() + section.size())
    };
    let bytes = |name: &str| {
        elf.section_by_name(name)
            .and_then(|section| section.data().ok())
            .map(<[u8]>::to_vec)
    };
    Some((
        bias,
        ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: range(".text"),
            got_svma: range(".got"),
            eh_frame_svma: range(".eh_frame"),
            eh_frame: bytes(".eh_frame"),
            eh_frame_hdr_svma: range(".eh_frame_hdr"),
            eh_frame_hdr: bytes(".eh_frame_hdr"),
            ..Default::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_mappings_by_file_and_opens_them_as_the_target_sees_them() {
        let maps = "\
5600-5700 r--p 00000000 08:01 12 /usr/bin/my worker
5700-5900 r-xp 00001000 08:01 12 /usr/bin/my worker
7f00-7f10 rw-p 00000000 00:00 0 
7ff0-7ff2 r-xp 00000000 00:00 0                          [vdso]
8000-8100 r-xp 00000000 08:01 13                         /old/lib.so (deleted)
";
        let layout = parse(maps);
        assert_eq!(layout.files.len(), 2);
        assert_eq!(layout.vdso, Some(0x7ff0..0x7ff2));
        assert_eq!(layout.regions.len(), 5);
        assert_eq!(
            where_to_open(
                9,
                "/old/lib.so (deleted)",
                Some(Path::new("/old/lib.so (deleted)"))
            ),
            Some(PathBuf::from("/proc/9/exe"))
        );
        assert_eq!(where_to_open(9, "/old/lib.so (deleted)", None), None);
        assert_eq!(
            where_to_open(9, "/usr/bin/my worker", None),
            Some(PathBuf::from("/proc/9/root/usr/bin/my worker"))
        );
        let worker = &layout.files["/usr/bin/my worker"];
        assert_eq!(worker.avma, 0x5600..0x5900);
        assert_eq!((worker.first_start, worker.first_offset), (0x5600, 0));
    }
}
