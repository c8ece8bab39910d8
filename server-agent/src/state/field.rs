//! One field of a host value, converted without converting the rest.
//!
//! `items["k"].name` needs the `name` of one entry; converting the whole entry would
//! copy every other field too (a 4 MiB body to read a 10-byte name). This serializer
//! walks the entry's `Serialize` output and converts only the field asked for: the
//! other fields are skipped without being serialized at all.
//!
//! Never from here: a result that differs from the whole conversion's field. A value
//! that is not a struct or a map (a string, a list, an enum variant) is converted
//! whole, as before, so that what the script sees is the same either way.

use std::fmt;

use serde::ser::{self, Impossible, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::state::live::ReadError;
use crate::state::view::to_json;

/// `value` reduced to an object holding only `field` (an empty object if it has no such
/// field), or `value` whole when it is not a struct or a map.
pub(crate) fn only_field<T: Serialize + ?Sized>(
    value: &T,
    field: &str,
) -> Result<Value, ReadError> {
    match value.serialize(FieldOf { field }) {
        Ok(found) => {
            let mut object = Map::new();
            if let Some(found) = found {
                object.insert(field.to_owned(), found);
            }
            Ok(Value::Object(object))
        }
        Err(Miss::NotARecord) => to_json(value),
        Err(Miss::Failed(why)) => Err(ReadError::Failed(why)),
    }
}

/// Why the field could not be picked out.
#[derive(Debug)]
enum Miss {
    /// The value is not a struct or a map: convert it whole.
    NotARecord,
    Failed(String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NotARecord => f.write_str("not a struct or a map"),
            Miss::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Miss {}

impl ser::Error for Miss {
    fn custom<T: fmt::Display>(message: T) -> Miss {
        Miss::Failed(message.to_string())
    }
}

fn converted<T: Serialize + ?Sized>(value: &T) -> Result<Value, Miss> {
    to_json(value).map_err(|err| match err {
        ReadError::Failed(why) => Miss::Failed(why),
        ReadError::Busy => Miss::Failed("busy".to_owned()),
    })
}

/// The serializer: the value of `field` if the value is a record that has it.
struct FieldOf<'a> {
    field: &'a str,
}

/// Collects the one field while a struct or a map is serialized.
struct Collect<'a> {
    field: &'a str,
    found: Option<Value>,
    /// The map key just serialized is the field's.
    next_is_field: bool,
}

macro_rules! not_a_record {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Miss> {
            Err(Miss::NotARecord)
        }
    )*};
}

impl<'a> Serializer for FieldOf<'a> {
    type Ok = Option<Value>;
    type Error = Miss;
    type SerializeSeq = Impossible<Option<Value>, Miss>;
    type SerializeTuple = Impossible<Option<Value>, Miss>;
    type SerializeTupleStruct = Impossible<Option<Value>, Miss>;
    type SerializeTupleVariant = Impossible<Option<Value>, Miss>;
    type SerializeMap = Collect<'a>;
    type SerializeStruct = Collect<'a>;
    type SerializeStructVariant = Impossible<Option<Value>, Miss>;

    not_a_record!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Miss> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Miss> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Self::Ok, Miss> {
        Err(Miss::NotARecord)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Miss> {
        Err(Miss::NotARecord)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Miss> {
        Err(Miss::NotARecord)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Miss> {
        Err(Miss::NotARecord)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Miss> {
        Err(Miss::NotARecord)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Miss> {
        Ok(Collect::new(self.field))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Miss> {
        Ok(Collect::new(self.field))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Miss> {
        Err(Miss::NotARecord)
    }
}

impl<'a> Collect<'a> {
    fn new(field: &'a str) -> Collect<'a> {
        Collect {
            field,
            found: None,
            next_is_field: false,
        }
    }
}

impl ser::SerializeStruct for Collect<'_> {
    type Ok = Option<Value>;
    type Error = Miss;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Miss> {
        if key == self.field {
            self.found = Some(converted(value)?);
        }
        Ok(())
    }

    fn end(self) -> Result<Option<Value>, Miss> {
        Ok(self.found)
    }
}

impl ser::SerializeMap for Collect<'_> {
    type Ok = Option<Value>;
    type Error = Miss;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Miss> {
        // A JSON object's keys are text: a number key is found by its digits. Only a
        // key whose text is short enough to be the field is converted (uncharged: it is
        // at most a few times the field's length), so other keys cost nothing.
        let could_match = 2 + 6 * self.field.len();
        self.next_is_field = crate::state::bounded::json_size_within(key, could_match).is_some()
            && match serde_json::to_value(key) {
                Ok(Value::String(text)) => text == self.field,
                Ok(Value::Number(number)) => number.to_string() == self.field,
                _ => false,
            };
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Miss> {
        if std::mem::take(&mut self.next_is_field) {
            self.found = Some(converted(value)?);
        }
        Ok(())
    }

    fn end(self) -> Result<Option<Value>, Miss> {
        Ok(self.found)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[derive(serde::Serialize)]
    struct Entry {
        name: String,
        #[serde(rename = "hits")]
        count: u64,
        body: Body,
    }

    /// Fails to serialize: proves a skipped field is never serialized.
    struct Body;

    impl Serialize for Body {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom("the body was serialized"))
        }
    }

    #[test]
    fn only_the_field_asked_for_is_converted() {
        let entry = Entry {
            name: "n".into(),
            count: 3,
            body: Body,
        };
        assert_eq!(only_field(&entry, "name"), Ok(json!({"name": "n"})));
        assert_eq!(only_field(&entry, "hits"), Ok(json!({"hits": 3})));
        assert_eq!(only_field(&entry, "nope"), Ok(json!({})));
        assert!(only_field(&entry, "body").is_err());
        let map = BTreeMap::from([(1, "one"), (2, "two")]);
        assert_eq!(only_field(&map, "2"), Ok(json!({"2": "two"})));
        assert_eq!(
            only_field(&Some(json!({"a": 1, "b": 2})), "b"),
            Ok(json!({"b": 2}))
        );
    }

    #[test]
    fn values_that_are_not_records_are_converted_whole() {
        assert_eq!(only_field("text", "len"), Ok(json!("text")));
        assert_eq!(only_field(&vec![1, 2], "x"), Ok(json!([1, 2])));
    }
}
