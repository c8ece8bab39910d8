//! Function names by address from an ELF symbol table, for code that DWARF does not
//! describe: the vDSO, and libraries shipped without debug info (the C library).
//!
//! Why sizes matter: a stripped library keeps only its exported symbols (`.dynsym`),
//! so most of its code (`start_thread`, `clone3`, `__libc_start_call_main` in glibc)
//! has no symbol at all. "The nearest symbol before the address" then names that code
//! after whatever exported function happens to precede it, a confident wrong answer
//! in a debugging tool. A name is given only when the address lies inside a function
//! symbol's `[start, start + size)`; anything else stays unnamed.
//!
//! It must never guess: a symbol of size 0 (a label in hand-written assembly, which
//! says nothing about where its code ends) names only its own first byte.
//!
//! A snapshot's addresses are looked up together, in one pass over the table,
//! rather than after sorting it: a debug build's `.symtab` holds some 50,000
//! functions, which take 2 ms to sort but 0.3 ms to scan.

use object::elf::STT_FUNC;
use object::read::elf::{ElfFile, FileHeader, Sym};
use object::FileKind;

/// One ELF image's function symbols.
pub(crate) struct Names<B> {
    image: B,
}

impl<B: AsRef<[u8]>> Names<B> {
    pub(crate) fn of(image: B) -> Names<B> {
        Names { image }
    }

    /// The function containing `svma` (an address as stated in the image), from
    /// `.symtab` when the image has one (it lists every function), else from
    /// `.dynsym` (the exported ones). Where aliases share an address the global name
    /// wins over a weak one, and either over a local one; where functions nest, the
    /// innermost.
    pub(crate) fn find(&self, svma: u64) -> Option<&str> {
        self.find_all(&[svma]).pop().flatten()
    }

    /// `find` for each of `svmas` (sorted), in one pass over the table.
    pub(crate) fn find_all(&self, svmas: &[u64]) -> Vec<Option<&str>> {
        let found = match FileKind::parse(self.image.as_ref()) {
            Ok(FileKind::Elf32) => self.find_in::<object::elf::FileHeader32<_>>(svmas),
            Ok(FileKind::Elf64) => self.find_in::<object::elf::FileHeader64<_>>(svmas),
            _ => None,
        };
        found.unwrap_or_else(|| vec![None; svmas.len()])
    }

    /// In this machine's byte order, as every process the helper can trace is.
    fn find_in<Elf: FileHeader<Endian = object::NativeEndian>>(
        &self,
        svmas: &[u64],
    ) -> Option<Vec<Option<&str>>> {
        let elf = ElfFile::<Elf>::parse(self.image.as_ref()).ok()?;
        let endian = elf.endian();
        let mut table = elf.elf_symbol_table();
        if table.is_empty() {
            table = elf.elf_dynamic_symbol_table();
        }
        let mut best: Vec<Best<Elf::Sym>> = vec![None; svmas.len()];
        for symbol in table.symbols() {
            let start: u64 = symbol.st_value(endian).into();
            let size: u64 = symbol.st_size(endian).into();
            let end = start.saturating_add(size.max(1));
            let first = svmas.partition_point(|svma| *svma < start);
            if svmas.get(first).is_none_or(|svma| *svma >= end)
                || symbol.st_type() != STT_FUNC
                || !symbol.is_definition(endian)
            {
                continue;
            }
            let rank = match (symbol.is_weak(), symbol.is_local()) {
                (false, false) => 2,
                (true, _) => 1,
                (false, true) => 0,
            };
            let inside = svmas[first..].iter().take_while(|svma| **svma < end);
            for (_, slot) in inside.zip(&mut best[first..]) {
                if slot.is_none_or(|(key, _)| key < (start, rank)) {
                    *slot = Some(((start, rank), symbol));
                }
            }
        }
        Some(
            best.into_iter()
                .map(|found| {
                    let name = table.symbol_name(endian, found?.1).ok()?;
                    std::str::from_utf8(name).ok()
                })
                .collect(),
        )
    }
}

/// The best symbol so far for one address, with its (start, rank): the innermost
/// function, then the global name of aliases.
type Best<'d, S> = Option<((u64, u8), &'d S)>;

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object, ObjectSymbol, ObjectSymbolTable, SymbolKind};

    /// This process's C library: its path as mapped, and its bytes.
    fn own_libc() -> (String, Vec<u8>) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.rsplit('/').next() == Some("libc.so.6"))
            .expect("this test process maps libc.so.6")
            .to_owned();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn names_an_exported_function_inside_its_size_and_nothing_past_its_end() {
        let (path, bytes) = own_libc();
        let names = Names::of(&*bytes);
        let elf = object::File::parse(&*bytes).unwrap();
        // The functions `names` reads: glibc as distributions ship it has no .symtab,
        // only its exports.
        let table = elf.symbol_table().or_else(|| elf.dynamic_symbol_table());
        let mut functions: Vec<(u64, u64)> = table
            .unwrap()
            .symbols()
            .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.is_definition())
            .map(|symbol| (symbol.address(), symbol.address() + symbol.size()))
            .collect();
        functions.sort_unstable();
        let poll = elf
            .dynamic_symbols()
            .find(|symbol| symbol.name() == Ok("__poll"))
            .unwrap_or_else(|| panic!("{path} exports __poll"));
        assert_eq!(names.find(poll.address() + 1), Some("__poll"));

        // The widest stretch between one function's end and the next one's start: in
        // a libc without .symtab, code no export names (start_thread, clone3). Its
        // middle must stay unnamed, not take the name of the function before it.
        let mut covered = 0;
        let gap = functions
            .iter()
            .filter_map(|&(start, end)| {
                let gap = covered..start;
                covered = covered.max(end.max(start + 1));
                (gap.end > gap.start).then_some(gap)
            })
            .skip(1)
            .max_by_key(|gap| gap.end - gap.start)
            .unwrap();
        assert!(gap.end > gap.start + 2, "{path}: no gap between functions");
        let middle = gap.start + (gap.end - gap.start) / 2;
        assert_eq!(names.find(middle), None, "{middle:#x} in {path}");
        let mut both = [(poll.address() + 1, Some("__poll")), (middle, None)];
        both.sort_unstable();
        let (svmas, expected): (Vec<u64>, Vec<Option<&str>>) = both.into_iter().unzip();
        assert_eq!(names.find_all(&svmas), expected, "one pass, both answers");
        assert_eq!(names.find(0), None);
    }
}
