//! `Live` for two popular crates' shared state, behind optional features:
//! `arc_swap::ArcSwap<T>` (read whole through a lock-free load) and
//! `dashmap::DashMap<K, V>` (a view: one shard read lock at a time).
//!
//! Never from here: a blocking wait on a shard for a point lookup (`try_get` with
//! backoff until the deadline instead).

#[cfg(feature = "arc-swap")]
mod arc_swap_live {
    use std::time::Instant;

    use serde::Serialize;
    use serde_json::Value;

    use crate::state::live::{Live, ReadError};
    use crate::state::view::to_json;

    /// Read whole on every access, through a lock-free `load`.
    impl<T: Serialize + Send + Sync + 'static> Live for arc_swap::ArcSwap<T> {
        fn read(&self, _deadline: Instant) -> Result<Value, ReadError> {
            to_json(&**self.load())
        }
    }

    #[cfg(test)]
    #[test]
    fn an_arc_swap_reads_its_current_value() {
        use std::sync::Arc;

        use crate::state::live::IntoLive;

        let config = Arc::new(arc_swap::ArcSwap::from_pointee(vec!["a"]));
        let live = config.clone().into_live();
        config.store(Arc::new(vec!["b"]));
        assert_eq!(live.read(Instant::now()), Ok(serde_json::json!(["b"])));
    }
}

#[cfg(feature = "dashmap")]
mod dashmap_live {
    use std::hash::{BuildHasher, Hash};
    use std::time::Instant;

    use dashmap::try_result::TryResult;
    use dashmap::DashMap;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;

    use crate::state::field::only_field;
    use crate::state::live::{retry_until, Live, ReadError};
    use crate::state::view::{to_json, Chunk, Cursor, Encoder, Part, Shape, Stint, View};

    /// A walk resumes at a position, as for `HashMap` (see `view`); `iter` takes each
    /// shard's read lock only while it is on that shard.
    impl<K, V, S> Live for DashMap<K, V, S>
    where
        K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
        V: Serialize + Send + Sync + 'static,
        S: BuildHasher + Clone + Send + Sync + 'static,
    {
        fn read(&self, _deadline: Instant) -> Result<Value, ReadError> {
            let mut map = serde_json::Map::new();
            for entry in self.iter() {
                let key = match to_json(entry.key())? {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                map.insert(key, to_json(entry.value())?);
            }
            Ok(Value::Object(map))
        }

        fn view(&self) -> Option<&dyn View> {
            Some(self)
        }
    }

    /// The entry at `key`, converted by `convert` under its shard's lock; a shard
    /// locked by the host is tried again until `deadline`.
    fn read_entry<K, V, S>(
        map: &DashMap<K, V, S>,
        key: &Value,
        deadline: Instant,
        convert: impl Fn(&V) -> Result<Value, ReadError>,
    ) -> Result<Option<Value>, ReadError>
    where
        K: DeserializeOwned + Hash + Eq,
        S: BuildHasher + Clone,
    {
        let Ok(key) = serde_json::from_value::<K>(key.clone()) else {
            return Ok(None);
        };
        retry_until(deadline, || match map.try_get(&key) {
            TryResult::Present(entry) => Some(convert(entry.value()).map(Some)),
            TryResult::Absent => Some(Ok(None)),
            TryResult::Locked => None,
        })?
    }

    impl<K, V, S> View for DashMap<K, V, S>
    where
        K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
        V: Serialize + Send + Sync + 'static,
        S: BuildHasher + Clone + Send + Sync + 'static,
    {
        fn shape(&self) -> Shape {
            Shape::Map
        }

        fn len(&self, _deadline: Instant) -> Result<usize, ReadError> {
            Ok(DashMap::len(self))
        }

        fn get(&self, key: &Value, deadline: Instant) -> Result<Option<Value>, ReadError> {
            read_entry(self, key, deadline, |value| to_json(value))
        }

        fn get_field(
            &self,
            key: &Value,
            field: &str,
            deadline: Instant,
        ) -> Result<Option<Value>, ReadError> {
            read_entry(self, key, deadline, |value| only_field(value, field))
        }

        fn chunk(
            &self,
            from: &Cursor,
            part: Part,
            stint: Stint,
            _deadline: Instant,
        ) -> Result<Chunk, ReadError> {
            let start = match from {
                Cursor::Position(at) => *at,
                Cursor::After(_) => 0,
            };
            let mut encoder = Encoder::new(part, stint);
            let mut entries = self.iter().skip(start);
            for entry in entries.by_ref() {
                if encoder.push(entry.key(), entry.value())? {
                    break;
                }
            }
            let more = encoder.left_one() || entries.next().is_some();
            let next = more.then(|| Cursor::Position(start + encoder.taken()));
            encoder.finish(next).decode()
        }
    }

    #[cfg(test)]
    #[test]
    fn a_dashmap_is_a_view_walked_in_chunks() {
        use std::sync::Arc;
        use std::time::Duration;

        use crate::state::live::IntoLive;

        let map = Arc::new(DashMap::<String, u32>::new());
        for i in 0..100 {
            map.insert(format!("k{i}"), i);
        }
        let live = map.into_live();
        let view = live.view().expect("a view");
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(view.len(soon), Ok(100));
        assert_eq!(
            view.get(&serde_json::json!("k7"), soon),
            Ok(Some(serde_json::json!(7)))
        );
        let stint = Stint {
            max: 30,
            time: Duration::from_secs(1),
        };
        let (mut seen, mut from) = (0, Some(Cursor::Position(0)));
        while let Some(cursor) = from {
            let chunk = view.chunk(&cursor, Part::Keys, stint, soon).unwrap();
            seen += chunk.items.len();
            from = chunk.next;
        }
        assert_eq!(seen, 100);
    }

    #[cfg(test)]
    #[test]
    fn one_field_of_a_dashmap_entry_is_read_alone() {
        use std::sync::Arc;
        use std::time::Duration;

        use crate::state::live::IntoLive;

        #[derive(Serialize)]
        struct Record {
            name: &'static str,
            body: String,
        }
        let map = Arc::new(DashMap::<String, Record>::new());
        let body = "x".repeat(1000);
        map.insert("r1".into(), Record { name: "one", body });
        let live = map.into_live();
        let view = live.view().expect("a view");
        let soon = Instant::now() + Duration::from_secs(1);
        let key = serde_json::json!("r1");
        assert_eq!(
            view.get_field(&key, "name", soon),
            Ok(Some(serde_json::json!({"name": "one"})))
        );
        let whole = view.get(&key, soon).unwrap().unwrap();
        assert_eq!(whole["body"].as_str().map(str::len), Some(1000));
        assert_eq!(
            view.get_field(&serde_json::json!("r9"), "name", soon),
            Ok(None)
        );
    }
}
