//! Addresses to functions, files and lines, after every thread runs again.
//!
//! DWARF (through addr2line) gives inlined frames and lines where the binary has
//! debug info; otherwise the symbol table gives the function, only where a symbol's
//! size covers the address (`names.rs`). Names are demangled without the Rust hash
//! suffix.

use std::collections::HashMap;

use addr2line::Loader;
use attach_protocol::stacks::{Frame, ThreadStack};
use framehop::FrameAddress;

use crate::maps::{self, Modules, Origin};
use crate::names::Names;

/// What a frame says when nothing names its code.
const UNKNOWN: &str = "??";

pub(crate) struct Symbols<'m> {
    modules: &'m Modules,
    /// Opened on first use; `None` when a file cannot be read.
    loaders: HashMap<usize, Option<Loader>>,
    /// By module: the frames DWARF left unnamed, as (address as stated in the file,
    /// frame address), for `name_the_rest`.
    unnamed: HashMap<usize, Vec<(u64, u64)>>,
}

impl<'m> Symbols<'m> {
    pub(crate) fn new(modules: &'m Modules) -> Symbols<'m> {
        Symbols {
            modules,
            loaders: HashMap::new(),
            unnamed: HashMap::new(),
        }
    }

    /// The frames at one address: inlined ones first, then the real function. Code
    /// DWARF does not name stays `??` until `name_the_rest`.
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
            self.unnamed
                .entry(index)
                .or_default()
                .push((probe, address));
        }
        frames
    }

    /// Names what DWARF left unnamed in `threads` from the symbol tables, reading
    /// each module's table once for all its addresses.
    pub(crate) fn name_the_rest(self, threads: &mut [ThreadStack]) {
        let mut names = HashMap::new();
        for (index, mut wanted) in self.unnamed {
            let Origin::File(path) = &self.modules.mapped[index].origin else {
                continue;
            };
            let Some(table) = maps::map_file(path).map(Names::of) else {
                continue;
            };
            wanted.sort_unstable();
            wanted.dedup();
            let probes: Vec<u64> = wanted.iter().map(|(probe, _)| *probe).collect();
            for ((_, address), name) in wanted.iter().zip(table.find_all(&probes)) {
                if let Some(name) = name {
                    names.insert(*address, demangle(name));
                }
            }
        }
        let frames = threads.iter_mut().flat_map(|thread| &mut thread.frames);
        for frame in frames.filter(|frame| frame.function == UNKNOWN && !frame.inlined) {
            if let Some(name) = names.get(&frame.address) {
                frame.function.clone_from(name);
            }
        }
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
