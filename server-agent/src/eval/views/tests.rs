//! Views against a registry of a thousand-entry map, a small list and a set.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use attach_protocol::Reply;
use serde_json::json;

use crate::eval::{Evaluator, SessionScope};
use crate::limits::Limits;
use crate::state::live::IntoLive;
use crate::state::registry::Registry;

fn evaluator() -> Evaluator {
    let mut registry = Registry::new(|_| false);
    let map: HashMap<String, serde_json::Value> = (0..1000)
        .map(|i| {
            (
                format!("k{i}"),
                json!({"name": format!("n{i}"), "hits": i, "secret": "s"}),
            )
        })
        .collect();
    registry.add_value("items", "", Arc::new(Mutex::new(map)).into_live());
    registry.add_value("small", "", Arc::new(Mutex::new(vec![1, 2, 3])).into_live());
    let tags: BTreeSet<String> = ["a", "b"].map(String::from).into();
    registry.add_value("tags", "", Arc::new(Mutex::new(tags)).into_live());
    registry.add_redaction("items.k1.secret");
    Evaluator::new(&registry, &Limits::default(), "test")
}

fn eval(evaluator: &Evaluator, code: &str) -> serde_json::Value {
    match evaluator.eval(&mut SessionScope::new(), 1, code) {
        Reply::Value { value, .. } => value,
        other => panic!("{code}: {other:?}"),
    }
}

#[test]
fn point_questions_and_walks() {
    let e = evaluator();
    assert_eq!(eval(&e, "items.len()"), json!(1000));
    assert_eq!(eval(&e, "items.is_empty()"), json!(false));
    assert_eq!(eval(&e, "items[\"k7\"].hits"), json!(7));
    assert_eq!(eval(&e, "items.k7.name"), json!("n7"));
    assert_eq!(eval(&e, "items[\"nope\"]"), json!(null));
    assert_eq!(eval(&e, "\"k9\" in items"), json!(true));
    assert_eq!(eval(&e, "items.keys().take(10).len()"), json!(10));
    assert_eq!(
        eval(
            &e,
            "let n = 0; for k in items { n += 1; if n == 5 { break } } n"
        ),
        json!(5)
    );
    assert_eq!(
        eval(&e, "let n = 0; for v in items.values() { n += v.hits } n"),
        json!(499500)
    );
    assert_eq!(eval(&e, "items.filter(|k, v| v.hits < 3).len()"), json!(3));
    assert_eq!(
        eval(&e, "items.values().filter(|v| v.hits < 3).len()"),
        json!(3)
    );
    assert_eq!(eval(&e, "items.map(|k, v| v.hits).len()"), json!(1000));
    assert_eq!(eval(&e, "small.map(|x| x * 2)"), json!([2, 4, 6]));
    assert_eq!(eval(&e, "small[-1]"), json!(3));
    assert_eq!(eval(&e, "small"), json!([1, 2, 3]));
    assert_eq!(eval(&e, "tags"), json!(["a", "b"]));
    assert_eq!(eval(&e, "tags.contains(\"b\")"), json!(true));
    assert_eq!(eval(&e, "type_of(items)"), json!("view"));
    let help = eval(&e, "help()");
    assert!(help
        .as_str()
        .unwrap()
        .contains("collections (items, small, tags)"));
}

#[test]
fn an_entry_whose_value_is_null_is_still_in_the_view() {
    let mut registry = Registry::new(|_| false);
    let sparse: HashMap<String, Option<u32>> =
        [("none".into(), None), ("one".into(), Some(1))].into();
    registry.add_value("sparse", "", Arc::new(Mutex::new(sparse)).into_live());
    let e = Evaluator::new(&registry, &Limits::default(), "test");
    let code = "[\"none\" in sparse, \"one\" in sparse, sparse.contains(\"two\")]";
    assert_eq!(eval(&e, code), json!([true, true, false]));
}

#[test]
fn an_element_read_for_one_field_behaves_as_the_whole_element() {
    let e = evaluator();
    for (field_only, whole) in [
        ("items[\"k7\"].name", "let x = items[\"k7\"]; x.name"),
        ("items.k7[\"hits\"]", "let x = items.k7; x[\"hits\"]"),
        ("items[\"k7\"].nope", "let x = items[\"k7\"]; x.nope"),
        ("items[\"k1\"].secret", "let x = items[\"k1\"]; x.secret"),
    ] {
        assert_eq!(eval(&e, field_only), eval(&e, whole), "{field_only}");
    }
    assert_eq!(eval(&e, "type_of(items[\"k7\"])"), json!("map"));
    assert_eq!(eval(&e, "items[\"k7\"].keys().len()"), json!(3));
    assert_eq!(eval(&e, "items.k7.len()"), json!(3));
    assert_eq!(eval(&e, "items[\"k7\"].contains(\"name\")"), json!(true));
    assert_eq!(eval(&e, "items[\"k7\"] == items[\"k7\"]"), json!(true));
    assert_eq!(eval(&e, "[1].map(|i| items[\"k7\"].hits * i)"), json!([7]));
    let not_a_record = e.eval(&mut SessionScope::new(), 1, "small[0].x");
    assert!(
        matches!(not_a_record, Reply::Error { .. }),
        "{not_a_record:?}"
    );
}

#[test]
fn previews_are_bounded_and_redactions_hold() {
    let e = evaluator();
    let preview = eval(&e, "items");
    let map = preview.as_object().unwrap();
    assert_eq!(map.len(), 101);
    assert!(map["…"].as_str().unwrap().contains("900 more, 1000 in all"));
    assert_eq!(
        eval(&e, "items.k1.secret"),
        json!(crate::state::redact::REDACTED)
    );
    assert_eq!(eval(&e, "items.k2.secret"), json!("s"));
    let secrets = eval(&e, "items.values().filter(|v| v.secret != \"s\").len()");
    assert_eq!(secrets, json!(1));
    assert_eq!(eval(&e, "items.keys()").as_array().unwrap().len(), 101);
}

#[test]
fn views_are_read_only() {
    let e = evaluator();
    for code in [
        "let c = items; c[\"k1\"] = 1",
        "items[\"k1\"] = 1",
        "items[\"k1\"].name = \"x\"",
        "let c = items; c.k1.hits += 1",
        "items[\"k1\"].clear()",
        "small[0] = 5",
    ] {
        let reply = e.eval(&mut SessionScope::new(), 1, code);
        assert!(
            matches!(reply, Reply::Error { ref message, .. } if message.contains("read-only")),
            "{code}: {reply:?}"
        );
    }
}
