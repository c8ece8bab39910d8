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

use std::ops::Range;

use object::{Object, ObjectSymbol, ObjectSymbolTable, SymbolIndex, SymbolKind, SymbolTable};

/// A module's defined functions, sorted by start; addresses as stated in the file.
///
/// Names are read only for the symbols a frame falls in: a debug build's `.symtab`
/// holds some 50,000 functions and 5 MiB of names, which take some 30 ms to read,
/// against 3 ms for their addresses.
pub(crate) struct Names<B> {
    /// The ELF image the symbol indices point into.
    image: B,
    /// Whether the indices are into `.dynsym` (the image has no `.symtab`).
    dynamic: bool,
    functions: Vec<(Range<u64>, SymbolIndex)>,
}

impl<B: AsRef<[u8]>> Names<B> {
    /// From `.symtab` when the image has one (it lists every function), else from
    /// `.dynsym` (the exported ones); `None` if it is not ELF. Where aliases share an
    /// address the global name is kept over a weak one, and either over a local one.
    pub(crate) fn of(image: B) -> Option<Names<B>> {
        let elf = object::File::parse(image.as_ref()).ok()?;
        let dynamic = elf.symbol_table().is_none();
        let functions = table(&elf, dynamic).map_or_else(Vec::new, |table| functions(&table));
        Some(Names {
            image,
            dynamic,
            functions,
        })
    }

    /// The function containing `svma` (an address as stated in the image), if any.
    pub(crate) fn find(&self, svma: u64) -> Option<&str> {
        let index = self
            .functions
            .partition_point(|(range, _)| range.start <= svma)
            .checked_sub(1)?;
        let (range, symbol) = &self.functions[index];
        if !range.contains(&svma) {
            return None;
        }
        let elf = object::File::parse(self.image.as_ref()).ok()?;
        let name = table(&elf, self.dynamic)?
            .symbol_by_index(*symbol)
            .ok()?
            .name();
        name.ok()
    }
}

fn table<'d, 'f>(elf: &'f object::File<'d>, dynamic: bool) -> Option<SymbolTable<'d, 'f>> {
    if dynamic {
        elf.dynamic_symbol_table()
    } else {
        elf.symbol_table()
    }
}

fn functions(table: &SymbolTable) -> Vec<(Range<u64>, SymbolIndex)> {
    let mut functions: Vec<(Range<u64>, u8, SymbolIndex)> = table
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text && symbol.is_definition())
        .map(|symbol| {
            let start = symbol.address();
            let range = start..start.saturating_add(symbol.size().max(1));
            let rank = match (symbol.is_weak(), symbol.is_global()) {
                (false, true) => 0,
                (true, _) => 1,
                (false, false) => 2,
            };
            (range, rank, symbol.index())
        })
        .collect();
    functions.sort_unstable_by_key(|(range, rank, _)| (range.start, *rank));
    functions.dedup_by_key(|(range, _, _)| range.start);
    functions
        .into_iter()
        .map(|(range, _, symbol)| (range, symbol))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let elf = object::File::parse(&*bytes).unwrap();
        let exported = functions(&elf.dynamic_symbol_table().unwrap());
        let names = Names {
            image: &*bytes,
            dynamic: true,
            functions: exported,
        };
        let poll = elf
            .dynamic_symbols()
            .find(|symbol| symbol.name() == Ok("__poll"))
            .unwrap_or_else(|| panic!("{path} exports __poll"));
        assert_eq!(names.find(poll.address() + 1), Some("__poll"));

        // The widest stretch between one exported function's end and the next one's
        // start: code no export names (in glibc, start_thread or clone3). Its middle
        // must stay unnamed, not take the name of the export before it.
        let (gap, before) = names
            .functions
            .windows(2)
            .map(|pair| (pair[0].0.end..pair[1].0.start, pair[0].1))
            .max_by_key(|(gap, _)| gap.end.saturating_sub(gap.start))
            .unwrap();
        assert!(gap.end > gap.start + 2, "{path}: no gap between exports");
        let middle = gap.start + (gap.end - gap.start) / 2;
        assert_eq!(
            names.find(middle),
            None,
            "{middle:#x}, after symbol {before:?}"
        );
        assert_eq!(names.find(0), None);
    }
}
