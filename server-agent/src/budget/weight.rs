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

use rhai::{Array, Blob, Dynamic, FnPtr, ImmutableString, Map, Scope};

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

/// Bytes held by `value` beyond its own slot.
pub(crate) fn weigh(value: &Dynamic) -> usize {
    // The common cases first: each test is a tag comparison.
    if value.is_int() || value.is_float() || value.is_bool() || value.is_unit() || value.is_char() {
        return 0;
    }
    if value.is_shared() {
        return match value.read_lock::<Dynamic>() {
            Some(inner) => BOXED + weigh(&inner),
            None => BOXED,
        };
    }
    if value.is_string() {
        let len = value
            .read_lock::<ImmutableString>()
            .map_or(0, |text| text.len());
        return weigh_string(len);
    }
    if value.is_array() {
        return value.read_lock::<Array>().map_or(BOXED, |array| {
            ALLOCATION + 24 + array.capacity() * SLOT + array.iter().map(weigh).sum::<usize>()
        });
    }
    if value.is_map() {
        return value.read_lock::<Map>().map_or(BOXED, |map| {
            ALLOCATION
                + 24
                + map
                    .iter()
                    .map(|(key, value)| MAP_ENTRY + text_bytes(key.len()) + weigh(value))
                    .sum::<usize>()
        });
    }
    if value.is_blob() {
        return value
            .read_lock::<Blob>()
            .map_or(BOXED, |blob| ALLOCATION + 24 + blob.capacity());
    }
    value.read_lock::<FnPtr>().map_or(BOXED, |pointer| {
        BOXED
            + text_bytes(pointer.fn_name().len())
            + pointer
                .iter_curry()
                .map(|arg| SLOT + weigh(arg))
                .sum::<usize>()
    })
}

/// Bytes held by a string value of `len` bytes beyond its slot.
pub(crate) fn weigh_string(len: usize) -> usize {
    STRING_BOX + text_bytes(len)
}

/// Bytes held by a scope's variables: names, slots and values.
pub(crate) fn weigh_scope(scope: &Scope) -> usize {
    scope
        .iter_raw()
        .map(|(name, _, value)| 24 + text_bytes(name.len()) + SLOT + weigh(value))
        .sum()
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
    fn small_values_weigh_nothing_beyond_their_slot() {
        assert_eq!(weigh(&Dynamic::from(42_i64)), 0);
        assert_eq!(weigh(&Dynamic::from("short")), STRING_BOX);
    }
}
