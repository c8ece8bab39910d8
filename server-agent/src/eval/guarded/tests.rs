//! The replaced functions against an engine with small limits.

use rhai::{Dynamic, Engine};

fn engine(max_array: usize) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_array_size(max_array);
    super::guard(&mut engine);
    engine
}

fn strings(engine: &Engine, code: &str) -> Vec<String> {
    engine
        .eval::<rhai::Array>(code)
        .unwrap()
        .into_iter()
        .map(Dynamic::into_string)
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn splits_as_rhai_does_within_the_limit() {
    let engine = engine(100);
    assert_eq!(strings(&engine, r#""a,b,c".split(",")"#), ["a", "b", "c"]);
    assert_eq!(
        strings(&engine, r#""a,b,c".split_rev(',')"#),
        ["c", "b", "a"]
    );
    assert_eq!(strings(&engine, r#""a,b,c".split(",", 2)"#), ["a", "b,c"]);
    assert_eq!(strings(&engine, r#""a b  c".split()"#), ["a", "b", "c"]);
    assert_eq!(strings(&engine, r#""abc".split("x")"#), ["abc"]);
    assert_eq!(strings(&engine, r#""abc".split("b", 1)"#), ["abc"]);
    assert_eq!(strings(&engine, r#""abcdef".split(2)"#), ["ab", "cdef"]);
    assert_eq!(
        engine
            .eval::<rhai::Array>(r#""ab".to_chars()"#)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn refuses_an_array_over_the_limit_before_building_it() {
    let engine = engine(10);
    for code in [
        r#"s.split("")"#,
        r#"s.split('a')"#,
        r#"s.split()"#,
        r#"s.split_rev("a", 40)"#,
        r#"s.to_chars()"#,
    ] {
        let code = format!(r#"let s = "a"; s.pad(50, " a"); {code}"#);
        let err = engine.eval::<rhai::Array>(&code).unwrap_err();
        assert!(
            matches!(*err, rhai::EvalAltResult::ErrorDataTooLarge(..)),
            "{code}: {err}"
        );
    }
}

#[test]
fn text_of_a_big_map_stops_past_the_string_limit() {
    let mut engine = engine(100);
    engine.set_max_string_size(1000);
    for code in [
        "m.to_string()",
        "print(m)",
        "[m].to_string()",
        "`${m}`",
        "\"\" + m",
        "m + \"\"",
        "let s = \"\"; s += m",
        "let s = \"\"; s.append(m)",
        "m.to_json()",
        "`${[m]}`",
    ] {
        let code = format!(
            r#"let k = "k"; k.pad(400, "x"); let m = #{{}}; for i in 0..50 {{ m[k + i] = [k] }}; {code}"#
        );
        let err = engine.eval::<rhai::Dynamic>(&code).unwrap_err();
        assert!(
            matches!(*err, rhai::EvalAltResult::ErrorDataTooLarge(..)),
            "{code}: {err}"
        );
    }
    // Within the limit, the text is Rhai's own.
    for (code, text) in [
        (r#"let m = #{a: [1, "b"]}; `${m}`"#, r#"#{"a": [1, "b"]}"#),
        ("[1, [2], #{}].to_string()", "[1, [2], #{}]"),
        (r#"#{a: [1, "b"]}.to_json()"#, r#"{"a":[1,"b"]}"#),
    ] {
        assert_eq!(engine.eval::<String>(code).unwrap(), text, "{code}");
    }
}

#[test]
fn text_within_stops_past_its_cap() {
    let long = Dynamic::from_array(vec![Dynamic::from("x".repeat(10_000)); 10]);
    assert_eq!(super::text::text_within(&long, 100).len(), 101);
    assert_eq!(super::text::text_within(&Dynamic::from(12_i64), 100), "12");
}

#[test]
fn the_replacements_work_on_constants_as_rhai_own_do() {
    let engine = engine(100);
    let code = r#"const M = #{a: "x,y"}; M.keys().len() + M.values().len() + M.to_json().len() + M.a.split(",").len()"#;
    assert_eq!(engine.eval::<i64>(code).unwrap(), 1 + 1 + 11 + 2);
}

#[test]
fn pad_pads_as_rhai_does_within_the_limits() {
    let engine = engine(100);
    let padded = engine
        .eval::<rhai::Array>("let a = [1]; a.pad(3, [0]); a")
        .unwrap();
    assert_eq!(padded.len(), 3);
    assert!(engine.eval::<()>("let a = []; a.pad(101, 0)").is_err());
    // Nested elements count toward the array limit, as in Rhai's own `pad`.
    assert!(engine.eval::<()>("let a = [1]; a.pad(60, [1, 2])").is_err());
}

#[test]
fn eval_is_off() {
    assert!(engine(10).eval::<i64>(r#"eval("1 + 1")"#).is_err());
}
