//! What a script value weighs in bytes of host memory, for the memory budget.
//!
//! Rhai's own size limits count characters and elements, never the bytes behind them,
//! and never the keys of a map; this walk counts both, so a map of long keys weighs
//! what it costs. Figures are what the allocations hold (headers, capacity, key
//! storage), rounded up rather than down: a budget must not undercount.
//!
//! Never from here: changing a value, or failing on one that is locked (a shared
//! value being written to is weighed as its slot).

use std::mem::size_of;

use rhai::{Array, Blob, Dynamic, FnPtr, ImmutableString, Map};

/// One `Dynamic` slot, inline in its array, map or scope.
const SLOT: usize = size_of::<Dynamic>();
/// An allocation's header and rounding, as malloc spends it.
const ALLOCATION: usize = 16;
/// Strings this short live inline (SmartString); longer ones have a heap buffer.
const INLINE_STRING: usize = 23;
/// A string: its shared box (counts plus the inline string).
const STRING_BOX: usize = 2 * size_of::<usize>() + 24 + ALLOCATION;
/// A map entry: key and value in a B-tree node, nodes about two-thirds full.
const MAP_ENTRY: usize = (24 + SLOT) * 3 / 2;
/// A boxed value of another type (a timestamp, a host type, a function pointer).
const BOXED: usize = 32 + ALLOCATION;

/// What a value costs: what it holds, and what one copy of it allocates (Rhai copies
/// a variable read by value; strings are shared, not copied, map keys are copied).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Weight {
    /// Bytes held beyond the value's own slot.
    pub(crate) held: usize,
    /// Bytes a copy of the value allocates.
    pub(crate) copied: usize,
    /// Bytes a copy of its largest element (or entry's value) allocates.
    pub(crate) largest_part: usize,
    /// Bytes of values curried into a function pointer in it (the largest): a call
    /// copies them again.
    pub(crate) curried: usize,
}

impl Weight {
    fn boxed() -> Weight {
        Weight {
            held: BOXED,
            copied: BOXED,
            ..Weight::default()
        }
    }

    /// A collection's own allocation plus what its parts weigh.
    fn collection<'a>(own: usize, parts: impl Iterator<Item = (usize, &'a Dynamic)>) -> Weight {
        let mut weight = Weight {
            held: own,
            copied: own,
            ..Weight::default()
        };
        for (extra, part) in parts {
            let inner = measure(part);
            weight.held += extra + inner.held;
            weight.copied += extra + inner.copied;
            weight.largest_part = weight.largest_part.max(inner.copied);
            weight.curried = weight.curried.max(inner.curried);
        }
        weight
    }
}

/// Bytes held by `value` beyond its own slot.
pub(crate) fn weigh(value: &Dynamic) -> usize {
    measure(value).held
}

/// What `value` holds and what copying it costs.
pub(crate) fn measure(value: &Dynamic) -> Weight {
    // The common cases first: each test is a tag comparison.
    if value.is_int() || value.is_float() || value.is_bool() || value.is_unit() || value.is_char() {
        return Weight::default();
    }
    if value.is_shared() {
        // Reading a shared value by value copies what it holds.
        return match value.read_lock::<Dynamic>() {
            Some(inner) => {
                let inner = measure(&inner);
                Weight {
                    held: BOXED + inner.held,
                    ..inner
                }
            }
            None => Weight::boxed(),
        };
    }
    if value.is_string() {
        let len = value
            .read_lock::<ImmutableString>()
            .map_or(0, |text| text.len());
        return Weight {
            held: weigh_string(len),
            ..Weight::default()
        };
    }
    if value.is_array() {
        return value.read_lock::<Array>().map_or(Weight::boxed(), |array| {
            let own = ALLOCATION + 24 + array.capacity() * SLOT;
            Weight::collection(own, array.iter().map(|item| (0, item)))
        });
    }
    if value.is_map() {
        return value.read_lock::<Map>().map_or(Weight::boxed(), |map| {
            let entries = map
                .iter()
                .map(|(key, value)| (MAP_ENTRY + text_bytes(key.len()), value));
            Weight::collection(ALLOCATION + 24, entries)
        });
    }
    if value.is_blob() {
        return value.read_lock::<Blob>().map_or(Weight::boxed(), |blob| {
            let bytes = ALLOCATION + 24 + blob.capacity();
            Weight {
                held: bytes,
                copied: bytes,
                ..Weight::default()
            }
        });
    }
    value
        .read_lock::<FnPtr>()
        .map_or(Weight::boxed(), |pointer| {
            let own = BOXED + text_bytes(pointer.fn_name().len());
            let (captured, curried): (Vec<_>, Vec<_>) =
                pointer.iter_curry().partition(|arg| arg.is_shared());
            let mut weight = Weight::collection(own, curried.into_iter().map(|arg| (SLOT, arg)));
            // A variable a closure captured is shared: a copy or a call copies its pointer.
            for arg in captured {
                weight.held += SLOT + measure(arg).held;
                weight.copied += SLOT;
            }
            Weight {
                curried: weight.curried.max(weight.copied - own),
                ..weight
            }
        })
}

/// Bytes held by a string value of `len` bytes beyond its slot.
pub(crate) fn weigh_string(len: usize) -> usize {
    STRING_BOX + text_bytes(len)
}

/// Bytes a scope spends on one variable besides its value: its name and slot.
pub(crate) fn variable_overhead(name: &str) -> usize {
    24 + text_bytes(name.len()) + SLOT
}

/// The heap buffer of a string of `len` bytes, if it needs one.
fn text_bytes(len: usize) -> usize {
    if len > INLINE_STRING {
        ALLOCATION + len
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keys_count() {
        let mut map = Map::new();
        for i in 0..10 {
            map.insert(format!("{i:0>1000}").into(), Dynamic::UNIT);
        }
        assert!(weigh(&Dynamic::from_map(map)) > 10 * 1000);
    }

    #[test]
    fn nested_strings_count() {
        let big = Dynamic::from("x".repeat(100_000));
        let array: Array = vec![big.clone(), Dynamic::from(vec![big])];
        assert!(weigh(&Dynamic::from_array(array)) > 200_000);
    }

    #[test]
    fn copies_share_strings_but_not_map_keys() {
        let big = Dynamic::from("x".repeat(100_000));
        let strings = measure(&Dynamic::from_array(vec![big.clone(), big]));
        assert!(
            strings.held > 200_000 && strings.copied < 1000,
            "{strings:?}"
        );
        let mut map = Map::new();
        map.insert("k".repeat(100_000).into(), Dynamic::from_array(vec![]));
        map.insert(
            "small".into(),
            Dynamic::from_array(vec![Dynamic::UNIT; 1000]),
        );
        let keys = measure(&Dynamic::from_map(map));
        assert!(keys.copied > 100_000, "{keys:?}");
        assert!(keys.largest_part >= 1000 * SLOT && keys.largest_part < 100_000);
    }

    #[test]
    fn values_curried_into_a_pointer_are_copied_at_a_call_but_captured_ones_are_not() {
        let big = || Dynamic::from_blob(vec![0; 100_000]);
        let mut curried = FnPtr::new("f").unwrap();
        curried.add_curry(big());
        assert!(measure(&Dynamic::from(curried)).curried >= 100_000);
        let mut captured = FnPtr::new("f").unwrap();
        captured.add_curry(big().into_shared());
        let weight = measure(&Dynamic::from(captured));
        assert!(weight.held >= 100_000 && weight.copied < 1000 && weight.curried < 1000);
    }

    #[test]
    fn small_values_weigh_nothing_beyond_their_slot() {
        assert_eq!(weigh(&Dynamic::from(42_i64)), 0);
        assert_eq!(weigh(&Dynamic::from("short")), STRING_BOX);
    }
}
