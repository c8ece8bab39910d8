//! Registered functions with typed arguments: `|key: String, ttl: u64| -> Result<T, E>`.
//!
//! A closure of 0 to `MAX_ARITY` arguments becomes a `HostFunction` through one impl
//! per arity (written by a macro). Arguments arrive from the script as JSON and are
//! deserialized into the closure's own parameter types *before* it runs, so a wrong
//! count or type is a script error naming the signature, never a panic in host code.
//! The parameter types are kept for `help()`: `evict(key: String)`.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Registered functions accept up to this many arguments.
pub(crate) const MAX_ARITY: usize = 6;

/// A closure the agent can call from scripts: `Fn(A, B, ...) -> Result<T, E>` with 0 to
/// [`AgentBuilder::MAX_ARITY`](crate::AgentBuilder::MAX_ARITY) (6) arguments that implement `serde::Deserialize` (integers, floats,
/// `bool`, `String`, `Vec`s, maps, your own `#[derive(Deserialize)]` types,
/// `serde_json::Value`), `T: Serialize` and `E: Display`.
///
/// You never implement this trait: every such closure has it. `Args` is the tuple of
/// argument types, inferred from the closure.
pub trait HostFunction<Args>: Send + Sync + 'static {
    /// The argument types, as `help()` shows them.
    #[doc(hidden)]
    fn parameter_types() -> Vec<String>;
    /// Deserializes `args` (exactly one per parameter), calls the closure and
    /// serializes its result. Errors are messages for the script.
    #[doc(hidden)]
    fn call_json(&self, args: &[Value]) -> Result<Value, String>;
}

/// Deserializes argument `index` (0-based) into its parameter type.
fn argument<A: DeserializeOwned>(args: &[Value], index: usize) -> Result<A, String> {
    let value = args.get(index).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|err| {
        format!(
            "argument {} must be {}: {err}",
            index + 1,
            type_label::<A>()
        )
    })
}

fn finish<T: Serialize, E: Display>(result: Result<T, E>) -> Result<Value, String> {
    let value = result.map_err(|err| err.to_string())?;
    serde_json::to_value(value).map_err(|err| format!("cannot turn the result into data: {err}"))
}

macro_rules! host_function {
    ($($arg:ident $index:tt),*) => {
        impl<F, T, E, $($arg,)*> HostFunction<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Result<T, E> + Send + Sync + 'static,
            T: Serialize,
            E: Display,
            $($arg: DeserializeOwned,)*
        {
            fn parameter_types() -> Vec<String> {
                vec![$(type_label::<$arg>()),*]
            }

            #[allow(unused_variables)]
            fn call_json(&self, args: &[Value]) -> Result<Value, String> {
                finish(self($(argument::<$arg>(args, $index)?),*))
            }
        }
    };
}

host_function!();
host_function!(A 0);
host_function!(A 0, B 1);
host_function!(A 0, B 1, C 2);
host_function!(A 0, B 1, C 2, D 3);
host_function!(A 0, B 1, C 2, D 3, G 4);
host_function!(A 0, B 1, C 2, D 3, G 4, H 5);

/// `std::any::type_name` without module paths: `Vec<String>`, not
/// `alloc::vec::Vec<alloc::string::String>`.
fn type_label<A>() -> String {
    let full = std::any::type_name::<A>();
    let mut label = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            label.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            label.push(c);
        }
    }
    label.trim_end().to_owned()
}

/// A closure with its types erased: JSON arguments in, JSON result or message out.
type ErasedCall = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

/// A registered function as the agent keeps it: its signature for `help()` and the
/// type-erased call.
pub(crate) struct Function {
    pub(crate) name: String,
    /// `name: Type` (or just `Type` when the help text named no parameters).
    pub(crate) params: Vec<String>,
    /// The help text without its leading `name(...)`.
    pub(crate) description: String,
    pub(crate) call: Box<ErasedCall>,
}

impl Function {
    /// Pairs the closure's types with the parameter names the help text gives
    /// (`"evict(key): drop one entry"`). Fails if the two disagree on the count.
    pub(crate) fn new<Args, F: HostFunction<Args>>(
        name: &str,
        help: &str,
        function: F,
    ) -> Result<Function, &'static str> {
        let types = F::parameter_types();
        let (names, description) = split_help(name, help);
        let params = match names {
            None => types,
            Some(names) if names.len() == types.len() => names
                .iter()
                .zip(&types)
                .map(|(name, ty)| format!("{name}: {ty}"))
                .collect(),
            Some(_) => {
                return Err(
                    "the help text's `name(...)` lists a different number of parameters than the closure takes",
                )
            }
        };
        Ok(Function {
            name: name.to_owned(),
            params,
            description,
            call: Box::new(move |args| function.call_json(args)),
        })
    }

    /// `evict(key: String)`.
    pub(crate) fn signature(&self) -> String {
        format!("{}({})", self.name, self.params.join(", "))
    }
}

/// The parameter names of a help text that starts with `name(a, b)`, and the rest.
fn split_help(name: &str, help: &str) -> (Option<Vec<String>>, String) {
    let Some(inner_and_rest) = help
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('('))
    else {
        return (None, help.to_owned());
    };
    let Some((inner, rest)) = inner_and_rest.split_once(')') else {
        return (None, help.to_owned());
    };
    let names = inner
        .split(',')
        .map(|param| param.split(':').next().unwrap_or("").trim().to_owned())
        .filter(|param| !param.is_empty())
        .collect();
    let description = rest.trim_start_matches([':', ' ', '-']).to_owned();
    (Some(names), description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn function<Args, F: HostFunction<Args>>(help: &str, f: F) -> Function {
        Function::new("f", help, f).expect("help and closure agree")
    }

    #[test]
    fn signatures_come_from_the_help_names_and_the_closure_types() {
        let evict = function("f(key): drop one entry", |_key: String| Ok::<_, String>(1));
        assert_eq!(evict.signature(), "f(key: String)");
        assert_eq!(evict.description, "drop one entry");
        let unnamed = function("no signature here", |_: Vec<u32>, _: bool| {
            Ok::<_, String>(())
        });
        assert_eq!(unnamed.signature(), "f(Vec<u32>, bool)");
        assert!(Function::new("f", "f(a, b): too many", |_: i64| Ok::<_, String>(())).is_err());
    }

    #[test]
    fn arguments_are_checked_before_the_closure_runs() {
        let add = function("f(a, b)", |a: i64, b: f64| Ok::<_, String>(a as f64 + b));
        assert_eq!((add.call)(&[json!(2), json!(0.5)]), Ok(json!(2.5)));
        let err = (add.call)(&[json!("two"), json!(1)]).unwrap_err();
        assert!(err.starts_with("argument 1 must be i64"), "{err}");
        let failing = function("f()", || Err::<(), _>("no such key"));
        assert_eq!((failing.call)(&[]), Err("no such key".to_owned()));
    }

    #[test]
    fn serde_types_are_arguments_too() {
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
            qty: u32,
        }
        let put = function("f(item)", |item: Item| {
            Ok::<_, String>(format!("{} x{}", item.name, item.qty))
        });
        assert_eq!(
            (put.call)(&[json!({"name": "pen", "qty": 3})]),
            Ok(json!("pen x3"))
        );
        assert!((put.call)(&[json!({"name": "pen"})]).is_err());
    }
}
