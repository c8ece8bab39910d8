//! What a command does with what it reads, learned from its compiled script before it
//! runs, for two callbacks that see only a name or a position:
//!
//! * Rhai copies a variable it reads by value (`[m, m]`, `f(m)`, `"" + m`, `` `${m}` ``,
//!   `let a = m`, `for x in m`), and no callback runs while it copies. Reads by
//!   reference copy nothing: the root of `m.x`, `m[k]`, `m.len()`, the target of an
//!   assignment, the first argument of a native function (`len(m)`). So the names read
//!   by value anywhere in the script are collected here, and a read of one of them is
//!   charged before it happens (`hooks`). A name read both ways is charged every time:
//!   counting a copy that is not made can only stop a command early, never let one
//!   through.
//! * Some copies no callback sees at all, as often as the script likes, so they are
//!   found here to be refused: `this` read whole (its receiver is marked `Bound`, or
//!   the command refused if the receiver is computed), and a computed top-level
//!   `const` in a command with functions (Rhai copies it for `global::`).
//! * `items["k"].name` asks a view for one element and then reads one field of it.
//!   The view is asked at the position of the `[` (or `.`): the field that follows is
//!   recorded by position, so the view converts that field alone (`views`). A position
//!   shared by two steps of different scripts (a session's functions come from earlier
//!   commands) records nothing, and the element is converted whole.
//!
//! Never from here: evaluating anything, or a guess that would change what a script
//! sees (a field is recorded only where the next step reads that field and nothing
//! else of the element).

use std::collections::{HashMap, HashSet};
use std::ptr;

use rhai::{ASTFlags, ASTNode, Expr, FnPtr, ImmutableString, Position, Stmt, AST};

/// How much of a variable a read by value copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Copied {
    /// One element or field of it (`m.x`, `m[k]` read by value).
    Part,
    /// All of it.
    Whole,
    /// All of it, as `this` of a function that reads `this` whole: a copy made where
    /// no callback runs, as often as the function reads it, so it cannot be charged.
    Bound,
}

/// Methods that copy their receiver's elements into what they return. `call` copies
/// the values curried into its function pointer.
const COPYING_METHODS: [(&str, Copied); 8] = [
    ("get", Copied::Part),
    ("find", Copied::Part),
    ("extract", Copied::Whole),
    ("filter", Copied::Whole),
    ("map", Copied::Whole),
    ("zip", Copied::Whole),
    ("reduce", Copied::Whole),
    ("call", Copied::Whole),
];

/// What one compiled command reads, by name and by position.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    copied: HashMap<String, Copied>,
    fields: HashMap<Position, Option<ImmutableString>>,
    /// Constants computed at run time (`const c = v`), when the command has functions
    /// (`fn`, its own or the session's): Rhai copies them for the functions.
    copied_constants: HashSet<String>,
    /// Where a method that reads `this` whole is called on a computed value, whose
    /// size is not known before it is copied.
    unsized_receiver: Option<Position>,
}

/// Why a command with an `unsized_receiver` is refused.
pub(crate) const UNSIZED_RECEIVER: &str = "a function here reads `this` whole, and is called \
     on a computed value whose copies the memory budget cannot count; store the value in a \
     variable first (`let x = ...; x.f()`) or pass it as an argument (`f(x)`)";

/// The functions a script defines, and whether any code reads `this` whole.
struct Callees {
    scripted: HashSet<String>,
    this_copied: bool,
}

impl Callees {
    /// Whether calling `name` with `args` on a receiver may bind it (or its elements,
    /// for `map`, `filter`, `for_each`...) as `this` of code that reads `this` whole.
    fn binds_this(&self, name: &str, args: &[Expr]) -> bool {
        self.this_copied
            && (name == "call" || self.scripted.contains(name) || args.iter().any(may_be_function))
    }
}

/// Whether an argument may be a function pointer or a closure.
fn may_be_function(arg: &Expr) -> bool {
    match arg {
        Expr::DynamicConstant(value, ..) => value.is::<FnPtr>(),
        other => !other.is_constant(),
    }
}

impl Reads {
    /// Walks `ast` (statements and function bodies).
    pub(crate) fn of(ast: &AST) -> Reads {
        let mut callees = Callees {
            scripted: ast
                .iter_functions()
                .map(|function| function.name.to_owned())
                .collect(),
            this_copied: false,
        };
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::ThisPtr(..))) = path.last() {
                callees.this_copied |= copied_by(path, &callees).is_some();
            }
            true
        });
        let mut reads = Reads::default();
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(definition, flags, ..)))
                    if flags.contains(ASTFlags::CONSTANT)
                        && !definition.1.is_constant()
                        && !callees.scripted.is_empty() =>
                {
                    reads.copied_constants.insert(definition.0.name.to_string());
                }
                Some(ASTNode::Expr(Expr::Variable(variable, ..))) => {
                    if let Some(copied) = copied_by(path, &callees) {
                        let name = variable.1.to_string();
                        let known = reads.copied.entry(name).or_insert(copied);
                        *known = (*known).max(copied);
                    }
                }
                Some(ASTNode::Expr(chain @ (Expr::Dot(steps, ..) | Expr::Index(steps, ..)))) => {
                    if is_root(path)
                        && !matches!(steps.lhs, Expr::Variable(..) | Expr::ThisPtr(..))
                        && !steps.lhs.is_constant()
                        && chain_copies(&steps.rhs, &callees) == Some(Copied::Bound)
                    {
                        reads.unsized_receiver.get_or_insert(chain.position());
                    }
                    let field = next_field(&steps.rhs);
                    reads
                        .fields
                        .entry(chain.position())
                        .and_modify(|known| {
                            if *known != field {
                                *known = None;
                            }
                        })
                        .or_insert(field);
                }
                _ => {}
            }
            true
        });
        reads
    }

    /// Where the script calls a method that reads `this` whole on a computed value.
    pub(crate) fn unsized_receiver(&self) -> Option<Position> {
        self.unsized_receiver
    }

    /// Whether a top-level `const name` would be copied for the command's functions
    /// (its value is computed, and there are functions).
    pub(crate) fn constant_copied(&self, name: &str) -> bool {
        self.copied_constants.contains(name)
    }

    /// How much of `name` some read copies, if any read of it copies.
    pub(crate) fn copied(&self, name: &str) -> Option<Copied> {
        self.copied.get(name).copied()
    }

    /// The field read right after the step at `position`, if it reads only that.
    pub(crate) fn field_after(&self, position: Position) -> Option<&str> {
        self.fields.get(&position)?.as_deref()
    }
}

/// How much the variable at the end of `path` is copied where it is read.
fn copied_by(path: &[ASTNode], callees: &Callees) -> Option<Copied> {
    let [above @ .., parent, ASTNode::Expr(variable)] = path else {
        return Some(Copied::Whole);
    };
    let variable: &Expr = variable;
    match parent {
        ASTNode::Expr(chain @ (Expr::Dot(steps, ..) | Expr::Index(steps, ..)))
            if ptr::eq(&steps.lhs, variable) =>
        {
            let assigned = matches!(above.last(),
                Some(ASTNode::Stmt(Stmt::Assignment(assignment))) if ptr::eq(&assignment.1.lhs, *chain));
            if assigned {
                None
            } else {
                chain_copies(&steps.rhs, callees)
            }
        }
        ASTNode::Stmt(Stmt::Assignment(assignment)) if ptr::eq(&assignment.1.lhs, variable) => None,
        ASTNode::Expr(Expr::FnCall(call, ..))
            if call.op_token.is_none()
                && call.namespace.is_empty()
                && call
                    .args
                    .first()
                    .is_some_and(|first| ptr::eq(first, variable)) =>
        {
            if callees.scripted.contains(call.name.as_str()) {
                Some(Copied::Whole)
            } else if callees.binds_this(&call.name, &call.args[1..]) {
                Some(Copied::Bound)
            } else {
                method_copies(&call.name)
            }
        }
        _ => Some(Copied::Whole),
    }
}

/// Whether the chain at the end of `path` is the whole chain, not the rest of one.
fn is_root(path: &[ASTNode]) -> bool {
    let [.., parent, ASTNode::Expr(chain)] = path else {
        return true;
    };
    let chain: &Expr = chain;
    !matches!(parent, ASTNode::Expr(Expr::Dot(steps, ..) | Expr::Index(steps, ..))
        if ptr::eq(&steps.rhs, chain))
}

/// What the rest of a chain copies of its root: the part it ends on, unless it ends
/// on a method call (which gets the part by reference, as `this` if it is a function
/// of the script or `call`).
fn chain_copies(rest: &Expr, callees: &Callees) -> Option<Copied> {
    match rest {
        Expr::Dot(steps, ..) | Expr::Index(steps, ..) => chain_copies(&steps.rhs, callees),
        Expr::MethodCall(call, ..) if callees.binds_this(&call.name, &call.args) => {
            Some(Copied::Bound)
        }
        Expr::MethodCall(call, ..) => method_copies(&call.name),
        _ => Some(Copied::Part),
    }
}

fn method_copies(name: &str) -> Option<Copied> {
    COPYING_METHODS
        .iter()
        .find(|(method, _)| *method == name)
        .map(|(_, copied)| *copied)
}

/// The field the step after this one reads: `.name` or `["name"]`.
fn next_field(rest: &Expr) -> Option<ImmutableString> {
    let (Expr::Dot(steps, ..) | Expr::Index(steps, ..)) = rest else {
        return None;
    };
    let next = match &steps.rhs {
        Expr::Dot(inner, ..) | Expr::Index(inner, ..) => &inner.lhs,
        last => last,
    };
    match (rest, next) {
        (Expr::Dot(..), Expr::Property(property, ..)) => Some(property.2.clone()),
        (Expr::Index(..), Expr::StringConstant(text, ..)) => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rhai::{Engine, OptimizationLevel, Scope};

    use super::*;

    fn reads(code: &str) -> Reads {
        let mut engine = Engine::new();
        engine.set_optimization_level(OptimizationLevel::None);
        let mut scope = Scope::new();
        for name in ["m", "a", "items"] {
            scope.push(name, ());
        }
        Reads::of(&engine.compile_with_scope(&scope, code).unwrap())
    }

    #[test]
    fn reads_by_value_are_found_and_reads_by_reference_are_not() {
        for code in [
            "m.len()",
            "m[\"k\"] = 1",
            "m.x.y = 2",
            "m += 1",
            "len(m)",
            "m.keys()",
        ] {
            assert_eq!(reads(code).copied("m"), None, "{code}");
        }
        for code in [
            "[m, 1]",
            "\"\" + m",
            "`${m}`",
            "let b = m",
            "for x in m {}",
            "a == m",
            "fn f(x) { x } f(m)",
            "m.filter(|x| true)",
            "a.mixin(m)",
        ] {
            assert_eq!(reads(code).copied("m"), Some(Copied::Whole), "{code}");
        }
        for code in ["m.x", "let b = m[1]", "m.x.y + 1", "m.get(0)"] {
            assert_eq!(reads(code).copied("m"), Some(Copied::Part), "{code}");
        }
        assert_eq!(reads("m.len(); [m]").copied("m"), Some(Copied::Whole));
        assert_eq!(reads("m.call(1)").copied("m"), Some(Copied::Whole));
    }

    #[test]
    fn a_receiver_is_bound_when_some_function_reads_this_whole() {
        let copies = "fn f() { [this] } fn g() { this.len() }";
        for code in [
            "m.f()",
            "m.g()",
            "m.call(Fn(\"g\"))",
            "m.x.g()",
            "m.map(|| this)",
            "map(m, |x| x)",
            "m.filter(a)",
        ] {
            let code = format!("{copies} {code}");
            assert_eq!(reads(&code).copied("m"), Some(Copied::Bound), "{code}");
        }
        let plain = reads(&format!("{copies} m.len() + m.get(1) + m.index_of(2)"));
        assert_eq!(plain.copied("m"), Some(Copied::Part));
        let by_reference = "fn g() { this.len() + this.x.len() } m.g()";
        assert_eq!(reads(by_reference).copied("m"), None);
        let computed = |code: &str| reads(&format!("{copies} {code}")).unsized_receiver();
        assert!(computed("[m][0].f()").is_some() && computed("(m + 1).g()").is_some());
        assert!(computed("m.x.f()").is_none() && computed("5.f()").is_none());
        let constants = reads("const c = m; const d = 1; fn f() { global::c }");
        assert!(constants.constant_copied("c") && !constants.constant_copied("d"));
        assert!(!reads("const c = m;").constant_copied("c"));
    }

    #[test]
    fn the_field_after_a_lookup_is_found_by_position() {
        let fields = |code: &str| {
            let reads = reads(code);
            let mut found: Vec<String> = reads
                .fields
                .values()
                .flatten()
                .map(ToString::to_string)
                .collect();
            found.sort();
            found
        };
        assert_eq!(fields("items[\"k\"].name"), ["name"]);
        assert_eq!(fields("items.k7.name"), ["name"]);
        assert_eq!(fields("items[\"k\"][\"name\"].len()"), ["name"]);
        assert!(fields("items[\"k\"]").is_empty());
        assert!(fields("items[\"k\"].len()").is_empty());
        let reads = reads("items[\"k\"].name");
        assert_eq!(reads.field_after(Position::new(1, 6)), Some("name"));
    }
}
