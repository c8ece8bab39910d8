//! `Inspect` for the std collections (walked as views) and the scalar types (read
//! whole). Every method here runs with the host's lock held: each touches only the
//! entries it is asked for, and a walk stops at its stint.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::ops::Bound;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::state::field::only_field;
use crate::state::live::ReadError;
use crate::state::view::{fill, to_json, Cursor, Encoded, Inspect, Part, Shape, Stint};

/// A script's key as the collection's key type; `"7"` also finds the integer key 7.
fn key_of<K: DeserializeOwned>(key: &Value) -> Option<K> {
    serde_json::from_value(key.clone())
        .ok()
        .or_else(|| match key {
            Value::String(text) => serde_json::from_str(text).ok(),
            _ => None,
        })
}

/// A script's index into a list of `len`: negative counts from the end.
fn index_of(key: &Value, len: usize) -> Option<usize> {
    let index = key.as_i64()?;
    let index = if index < 0 {
        len.checked_sub(index.unsigned_abs() as usize)?
    } else {
        index as usize
    };
    (index < len).then_some(index)
}

fn position(from: &Cursor) -> usize {
    match from {
        Cursor::Position(at) => *at,
        Cursor::After(_) => 0,
    }
}

/// `get` and `get_field` of a collection, given how it finds the entry at `$key`.
macro_rules! point_reads {
    (|$this:ident, $key:ident| $found:expr) => {
        fn get(&self, key: &Value) -> Result<Option<Value>, ReadError> {
            let ($this, $key) = (self, key);
            $found.map(to_json).transpose()
        }

        fn get_field(&self, key: &Value, field: &str) -> Result<Option<Value>, ReadError> {
            let ($this, $key) = (self, key);
            $found.map(|value| only_field(value, field)).transpose()
        }
    };
}

impl<K, V, S> Inspect for HashMap<K, V, S>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + 'static,
    V: Serialize + Send + 'static,
    S: BuildHasher + Send + 'static,
{
    const SHAPE: Option<Shape> = Some(Shape::Map);

    fn len(&self) -> usize {
        HashMap::len(self)
    }

    point_reads!(|map, key| key_of::<K>(key).and_then(|key| HashMap::get(map, &key)));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let start = position(from);
        fill(self.iter().skip(start), part, stint, |taken, _| {
            Ok(Cursor::Position(start + taken))
        })
    }
}

impl<T, S> Inspect for HashSet<T, S>
where
    T: Serialize + DeserializeOwned + Hash + Eq + Send + 'static,
    S: BuildHasher + Send + 'static,
{
    const SHAPE: Option<Shape> = Some(Shape::Set);

    fn len(&self) -> usize {
        HashSet::len(self)
    }

    point_reads!(|set, key| key_of::<T>(key).and_then(|key| HashSet::get(set, &key)));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let start = position(from);
        let entries = self.iter().skip(start).map(|item| (item, item));
        fill(entries, part, stint, |taken, _| {
            Ok(Cursor::Position(start + taken))
        })
    }
}

/// Where an ordered walk resumes: after the key the cursor names.
fn after<K: DeserializeOwned>(from: &Cursor) -> Bound<K> {
    match from {
        Cursor::After(key) => key_of(key).map_or(Bound::Unbounded, Bound::Excluded),
        Cursor::Position(_) => Bound::Unbounded,
    }
}

fn resume_after<K: Serialize>(_taken: usize, key: &K) -> Result<Cursor, ReadError> {
    to_json(key).map(Cursor::After)
}

impl<K, V> Inspect for BTreeMap<K, V>
where
    K: Serialize + DeserializeOwned + Ord + Send + 'static,
    V: Serialize + Send + 'static,
{
    const SHAPE: Option<Shape> = Some(Shape::Map);

    fn len(&self) -> usize {
        BTreeMap::len(self)
    }

    point_reads!(|map, key| key_of::<K>(key).and_then(|key| BTreeMap::get(map, &key)));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let entries = self.range((after::<K>(from), Bound::Unbounded));
        fill(entries, part, stint, resume_after)
    }
}

impl<T> Inspect for BTreeSet<T>
where
    T: Serialize + DeserializeOwned + Ord + Send + 'static,
{
    const SHAPE: Option<Shape> = Some(Shape::Set);

    fn len(&self) -> usize {
        BTreeSet::len(self)
    }

    point_reads!(|set, key| key_of::<T>(key).and_then(|key| BTreeSet::get(set, &key)));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let entries = self
            .range((after::<T>(from), Bound::Unbounded))
            .map(|item| (item, item));
        fill(entries, part, stint, resume_after)
    }
}

impl<T: Serialize + Send + 'static> Inspect for Vec<T> {
    const SHAPE: Option<Shape> = Some(Shape::List);

    fn len(&self) -> usize {
        Vec::len(self)
    }

    point_reads!(|list, key| index_of(key, list.len()).map(|at| &list[at]));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let start = position(from).min(self.len());
        let entries = self[start..]
            .iter()
            .enumerate()
            .map(|(i, v)| (start + i, v));
        fill(entries, part, stint, |taken, _| {
            Ok(Cursor::Position(start + taken))
        })
    }
}

impl<T: Serialize + Send + 'static> Inspect for VecDeque<T> {
    const SHAPE: Option<Shape> = Some(Shape::List);

    fn len(&self) -> usize {
        VecDeque::len(self)
    }

    point_reads!(|list, key| index_of(key, list.len()).and_then(|at| VecDeque::get(list, at)));

    fn chunk(&self, from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        let start = position(from).min(self.len());
        let entries = self.range(start..).enumerate().map(|(i, v)| (start + i, v));
        fill(entries, part, stint, |taken, _| {
            Ok(Cursor::Position(start + taken))
        })
    }
}

macro_rules! inspect_whole {
    ($($t:ty),*) => {$( impl Inspect for $t {} )*};
}

inspect_whole!(
    bool,
    char,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
    String,
    &'static str,
    Value
);

impl<T: Serialize + Send + 'static> Inspect for Option<T> {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn stint(max: usize) -> Stint {
        Stint {
            max,
            time: Duration::from_secs(5),
        }
    }

    /// Every key of `collection`, walked `max` at a time.
    fn walk<T: Inspect>(collection: &T, max: usize) -> Vec<Value> {
        let mut keys = Vec::new();
        let mut from = Some(Cursor::Position(0));
        while let Some(cursor) = from {
            let chunk = collection
                .chunk(&cursor, Part::Keys, stint(max))
                .unwrap()
                .decode()
                .unwrap();
            assert!(chunk.items.len() <= max);
            keys.extend(chunk.items.into_iter().map(|item| item.key));
            from = chunk.next;
        }
        keys
    }

    #[test]
    fn walks_in_chunks_see_every_key_once() {
        let map: HashMap<String, u32> = (0..100).map(|i| (format!("k{i}"), i)).collect();
        let mut keys = walk(&map, 7);
        keys.sort_by_key(|key| key.to_string());
        keys.dedup();
        assert_eq!(keys.len(), 100);

        let tree: BTreeMap<u32, u32> = (0..50).map(|i| (i, i)).collect();
        assert_eq!(
            walk(&tree, 8),
            (0..50).map(|i| json!(i)).collect::<Vec<_>>()
        );
        let set: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        assert_eq!(walk(&set, 2), [json!("a"), json!("b"), json!("c")]);
        let list: VecDeque<u8> = (0..10).collect();
        assert_eq!(
            walk(&list, 3),
            (0..10).map(|i| json!(i)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_chunk_ends_before_an_entry_its_budget_cannot_hold() {
        let _budget = crate::budget::begin(crate::budget::Plan {
            timeout: Duration::from_secs(60),
            max_command: 3 << 20,
            max_session: 6 << 20,
            kept: 0,
        });
        // A chunk's text may take a third of the 3 MiB left: two of these values.
        let list: Vec<String> = (0..10)
            .map(|i| format!("{i}{}", "x".repeat(400_000)))
            .collect();
        let (mut values, mut from) = (Vec::new(), Some(Cursor::Position(0)));
        while let Some(cursor) = from {
            let chunk = list.chunk(&cursor, Part::Values, stint(100)).unwrap();
            let chunk = chunk.decode().unwrap();
            assert_eq!(chunk.items.len(), 2);
            values.extend(chunk.items.into_iter().map(|item| item.value));
            from = chunk.next;
        }
        assert_eq!(
            values,
            list.iter().map(|value| json!(value)).collect::<Vec<_>>()
        );
        let huge = vec!["x".repeat(2 << 20)];
        let refused = huge.chunk(&Cursor::Position(0), Part::Values, stint(100));
        assert!(refused.is_err());
    }

    #[test]
    fn lookups_convert_only_the_entry_asked_for() {
        let map: HashMap<u64, &str> = HashMap::from([(7, "seven")]);
        assert_eq!(Inspect::get(&map, &json!(7)), Ok(Some(json!("seven"))));
        assert_eq!(Inspect::get(&map, &json!("7")), Ok(Some(json!("seven"))));
        assert_eq!(Inspect::get(&map, &json!("nope")), Ok(None));
        let list = vec![1, 2, 3];
        assert_eq!(Inspect::get(&list, &json!(-1)), Ok(Some(json!(3))));
        assert_eq!(Inspect::get(&list, &json!(3)), Ok(None));
        let set: HashSet<String> = HashSet::from(["x".to_owned()]);
        assert_eq!(Inspect::get(&set, &json!("x")), Ok(Some(json!("x"))));
        let rows = vec![json!({"name": "a", "body": "long"})];
        assert_eq!(
            Inspect::get_field(&rows, &json!(0), "name"),
            Ok(Some(json!({"name": "a"})))
        );
    }
}
