//! Addresses to functions, files and lines, after every thread runs again.
//!
//! DWARF (through addr2line) gives inlined frames and lines where the binary has
//! debug info; otherwise the symbol table gives the function, only where a symbol's
//! size covers the address (`names.rs`). Names are demangled without the Rust hash
//! suffix.

use std::collections::HashMap;
use std::path::Path;

use addr2line::Loader;
use attach_protocol::stacks::Frame;
use framehop::FrameAddress;
use memmap2::Mmap;

use crate::maps::{self, Modules, Origin};
use crate::names::Names;

/// What a frame says when nothing names its code.
const UNKNOWN: &str = "??";

pub(crate) struct Symbols<'m> {
    modules: &'m Modules,
    /// Opened on first use; `None` when a file cannot be read.
    loaders: HashMap<usize, Option<Loader>>,
    /// Symbol tables, mapped on a module's first frame that DWARF does not name;
    /// `None` when the file cannot be read.
    tables: HashMap<usize, Option<Names<Mmap>>>,
    /// What the tables said, by module and address.
    symbols: HashMap<(usize, u64), Option<String>>,
}

impl<'m> Symbols<'m> {
    pub(crate) fn new(modules: &'m Modules) -> Symbols<'m> {
        Symbols {
            modules,
            loaders: HashMap::new(),
            tables: HashMap::new(),
            symbols: HashMap::new(),
        }
    }

    /// The frames at one address: inlined ones first, then the real function.
    pub(crate) fn frames(&mut self, frame: FrameAddress) -> Vec<Frame> {
        let address = frame.address();
        let lookup = frame.address_for_lookup();
        let unknown = |module: &str, offset: u64| Frame {
            function: UNKNOWN.to_owned(),
            file: None,
            line: None,
            inlined: false,
            address,
            module: module.to_owned(),
            offset,
        };
        let Some((index, module)) = self.modules.find(lookup) else {
            return vec![unknown("", 0)];
        };
        let probe = lookup.wrapping_sub(module.bias);
        let offset = address.wrapping_sub(module.bias);
        let path = match &module.origin {
            Origin::File(path) => path,
            Origin::Vdso(names) => {
                let mut frame = unknown(&module.name, offset);
                if let Some(name) = names.find(probe) {
                    frame.function = name.to_owned();
                }
                return vec![frame];
            }
        };
        let loader = self
            .loaders
            .entry(index)
            .or_insert_with(|| Loader::new(path).ok());
        let Some(loader) = loader else {
            return vec![unknown(&module.name, offset)];
        };
        let mut frames = Vec::new();
        if let Ok(mut found) = loader.find_frames(probe) {
            while let Ok(Some(found)) = found.next() {
                let location = found.location.as_ref();
                frames.push(Frame {
                    function: found
                        .function
                        .as_ref()
                        .and_then(|name| name.raw_name().ok())
                        .map_or_else(|| UNKNOWN.to_owned(), |name| demangle(&name)),
                    file: location.and_then(|at| at.file).map(str::to_owned),
                    line: location.and_then(|at| at.line),
                    inlined: true,
                    address,
                    module: module.name.clone(),
                    offset,
                });
            }
        }
        if frames.is_empty() {
            frames.push(unknown(&module.name, offset));
        }
        let outermost = frames.len() - 1;
        frames[outermost].inlined = false;
        if frames[outermost].function == UNKNOWN {
            if let Some(name) = self.symbol(index, path, probe) {
                frames[outermost].function = name;
            }
        }
        frames
    }

    /// The function symbol covering `probe` in module `index`, demangled. Each
    /// address is looked up once: threads share most of their outer frames.
    fn symbol(&mut self, index: usize, path: &Path, probe: u64) -> Option<String> {
        let tables = &mut self.tables;
        self.symbols
            .entry((index, probe))
            .or_insert_with(|| {
                let table = tables
                    .entry(index)
                    .or_insert_with(|| maps::map_file(path).map(Names::of));
                table.as_ref()?.find(probe).map(demangle)
            })
            .clone()
    }
}

/// Rust names (both manglings) demangled without the hash; others unchanged.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_rust_names_without_the_hash_and_keeps_c_names() {
        assert_eq!(
            demangle("_ZN11http_worker6server5serve17hd8ef5e9de954a59cE"),
            "http_worker::server::serve"
        );
        assert_eq!(demangle("__poll"), "__poll");
    }
}
