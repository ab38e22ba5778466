//! Conditions: CEL expressions (the Common Expression Language, evaluated by
//! the `cel` crate), never a general-purpose language. They are compiled when a
//! spec is validated and evaluated once, at submission; the result is recorded
//! in the plan so replay never evaluates them again.

use serde_json::Value;

use crate::error::DomainError;

/// Longest expression accepted.
pub const MAX_EXPRESSION_CHARS: usize = 2_048;

/// A compiled CEL expression that must yield a bool.
pub struct Condition {
    field: String,
    source: String,
    program: cel::Program,
    /// The variables (a parameter and its fields) that `map` and `filter`
    /// build lists from: each must be a list when evaluated.
    list_ranges: Vec<Vec<String>>,
}

/// Variables an expression may read.
#[derive(Debug, Default, Clone)]
pub struct Bindings {
    vars: Vec<(String, Value)>,
}

impl Bindings {
    /// `params` as a map, and each parameter whose name is a CEL identifier by name.
    pub fn with_params(params: &Value) -> Self {
        let mut bindings = Bindings::default();
        if let Value::Object(map) = params {
            for (key, value) in map {
                if is_identifier(key) {
                    bindings.vars.push((key.clone(), value.clone()));
                }
            }
        }
        bindings.vars.push(("params".into(), params.clone()));
        bindings
    }

    /// The value at `path`: a variable, then fields of objects.
    fn resolve(&self, path: &[String]) -> Option<&Value> {
        let (root, fields) = path.split_first()?;
        let (_, value) = self.vars.iter().rev().find(|(name, _)| name == root)?;
        fields
            .iter()
            .try_fold(value, |value, field| value.as_object()?.get(field))
    }

    /// Adds (or shadows) one variable.
    pub fn set(&mut self, name: &str, value: Value) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.into(), value));
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name,
            "true"
                | "false"
                | "null"
                | "in"
                | "as"
                | "break"
                | "const"
                | "continue"
                | "else"
                | "for"
                | "function"
                | "if"
                | "import"
                | "let"
                | "loop"
                | "package"
                | "namespace"
                | "return"
                | "var"
                | "void"
                | "while"
        )
}

impl Condition {
    /// Compiles `source`; `field` names where it came from in errors.
    pub fn compile(field: &str, source: &str) -> Result<Self, DomainError> {
        let bad = |problem: String| DomainError::InvalidExpression {
            field: field.to_owned(),
            expression: truncate(source),
            problem,
        };
        if source.trim().is_empty() {
            return Err(bad("is empty".into()));
        }
        if source.chars().count() > MAX_EXPRESSION_CHARS {
            return Err(bad(format!(
                "is longer than {MAX_EXPRESSION_CHARS} characters"
            )));
        }
        // The parser recurses on nesting; refuse pathological depth before parsing.
        let depth = source
            .chars()
            .scan(0i32, |d, c| {
                *d += match c {
                    '(' | '[' | '{' => 1,
                    ')' | ']' | '}' => -1,
                    _ => 0,
                };
                Some(*d)
            })
            .max()
            .unwrap_or(0);
        if depth > 32 {
            return Err(bad("nests brackets more than 32 deep".into()));
        }
        let program = std::panic::catch_unwind(|| cel::Program::compile(source))
            .map_err(|_| bad("could not be parsed".into()))?
            .map_err(|e| bad(e.to_string()))?;
        let mut list_ranges = Vec::new();
        collect_list_ranges(program.expression(), &mut Vec::new(), &mut list_ranges)
            .map_err(bad)?;
        Ok(Self {
            field: field.to_owned(),
            source: source.to_owned(),
            program,
            list_ranges,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to a bool, or a typed error naming the field.
    pub fn evaluate(&self, bindings: &Bindings) -> Result<bool, DomainError> {
        let failed = |problem: String| DomainError::ConditionFailed {
            field: self.field.clone(),
            expression: truncate(&self.source),
            problem,
        };
        // The `cel` crate iterates a map in hash order, which changes from
        // one evaluation to the next: a list built from one would make the
        // same submit resolve differently. Checked before evaluating.
        for range in &self.list_ranges {
            if let Some(Value::Object(_)) = bindings.resolve(range) {
                return Err(failed(format!(
                    "`{}` is an object: `map` and `filter` over its keys would list them in no defined order; iterate over a list",
                    range.join(".")
                )));
            }
        }
        let mut context = cel::Context::default();
        for (name, value) in &bindings.vars {
            context.add_variable_from_value(name.clone(), to_cel(value));
        }
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(failed(format!("yields {:?}, not a bool", other.type_of()))),
            Err(e) => Err(failed(describe_failure(&e))),
        }
    }
}

/// Collects, for every `map` and `filter` in `expr` (the comprehensions that
/// build a list), the variable path it iterates over, so that evaluation can
/// check it is a list and not an object, whose keys the `cel` crate
/// iterates in no defined order. A list literal needs no check; anything
/// else — a value computed in the expression, or a field of an iteration
/// variable — cannot be checked before it is iterated, and is refused.
fn collect_list_ranges(
    expr: &cel::IdedExpr,
    scope: &mut Vec<String>,
    ranges: &mut Vec<Vec<String>>,
) -> Result<(), String> {
    use cel::common::ast::{EntryExpr, Expr};
    match &expr.expr {
        Expr::Comprehension(c) => {
            if matches!(c.accu_init.expr, Expr::List(_)) {
                match &c.iter_range.expr {
                    Expr::List(_) => {}
                    range => match variable_path(range) {
                        Some(path) if !scope.contains(&path[0]) => ranges.push(path),
                        _ => {
                            return Err("`map` and `filter` iterate over a parameter (such as `params.items`) or a list literal; \
                                 another value could be a map, whose keys come in no defined order"
                                .into())
                        }
                    },
                }
            }
            collect_list_ranges(&c.iter_range, scope, ranges)?;
            collect_list_ranges(&c.accu_init, scope, ranges)?;
            let outer = scope.len();
            scope.push(c.iter_var.clone());
            scope.extend(c.iter_var2.clone());
            scope.push(c.accu_var.clone());
            for part in [&c.loop_cond, &c.loop_step, &c.result] {
                collect_list_ranges(part, scope, ranges)?;
            }
            scope.truncate(outer);
        }
        Expr::Call(call) => {
            for part in call.target.iter().map(|t| &**t).chain(&call.args) {
                collect_list_ranges(part, scope, ranges)?;
            }
        }
        Expr::Select(select) => collect_list_ranges(&select.operand, scope, ranges)?,
        Expr::List(list) => {
            for element in &list.elements {
                collect_list_ranges(element, scope, ranges)?;
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    collect_list_ranges(&entry.key, scope, ranges)?;
                    collect_list_ranges(&entry.value, scope, ranges)?;
                }
            }
        }
        Expr::Struct(structure) => {
            for entry in &structure.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    collect_list_ranges(&field.value, scope, ranges)?;
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
    Ok(())
}

/// `a`, `a.b.c` as the names along it; `None` for any other expression.
fn variable_path(expr: &cel::common::ast::Expr) -> Option<Vec<String>> {
    use cel::common::ast::Expr;
    match expr {
        Expr::Ident(name) => Some(vec![name.clone()]),
        Expr::Select(select) if !select.test => {
            let mut path = variable_path(&select.operand.expr)?;
            path.push(select.field.clone());
            Some(path)
        }
        _ => None,
    }
}

/// An evaluation error in words that never print the values involved: a
/// map's entries come out in hash order (so the same command would get a
/// different message each time) and the parameters can be 64 KiB.
#[allow(deprecated)]
fn describe_failure(error: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    let t = |v: &cel::Value| format!("{:?}", v.type_of());
    let described = match error {
        E::UnsupportedTargetType { target } => format!("invalid argument of type {}", t(target)),
        E::NotSupportedAsMethod { method, target } => {
            format!("method '{method}' is not supported on type {}", t(target))
        }
        E::UnsupportedKeyType(v) => format!("a value of type {} cannot be a map key", t(v)),
        E::ValuesNotComparable(a, b) => format!("{} cannot be compared to {}", t(a), t(b)),
        E::UnsupportedUnaryOperator(op, v) => {
            format!("unary operator '{op}' is not supported on type {}", t(v))
        }
        E::UnsupportedBinaryOperator(op, a, b) => format!(
            "binary operator '{op}' is not supported on types {} and {}",
            t(a),
            t(b)
        ),
        E::UnsupportedMapIndex(v) | E::UnsupportedListIndex(v) => {
            format!("a value of type {} cannot be an index", t(v))
        }
        E::UnsupportedIndex(i, v) => {
            format!("a value of type {} cannot index type {}", t(i), t(v))
        }
        E::DivisionByZero(_) => "division by zero".into(),
        E::RemainderByZero(_) => "remainder by zero".into(),
        E::Overflow(op, a, b) => {
            format!("operator '{op}' overflows on types {} and {}", t(a), t(b))
        }
        E::IndexOutOfBounds(_) => "index out of bounds".into(),
        E::DuplicateKey(v) => format!("a map literal repeats a key of type {}", t(v)),
        other => other.to_string(),
    };
    truncate(&described)
}

/// JSON to CEL: integers become `int` (so `amount + 1` and `amount > 10000`
/// mean what users expect), larger ones `uint`, other numbers `double`.
fn to_cel(value: &Value) -> cel::Value {
    use std::collections::HashMap;
    use std::sync::Arc;
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: HashMap<cel::objects::Key, cel::Value> = map
                .iter()
                .map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            cel::Value::Map(cel::objects::Map {
                map: Arc::new(entries),
            })
        }
    }
}

fn truncate(source: &str) -> String {
    source.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, params: Value) -> Result<bool, DomainError> {
        Condition::compile("spec.condition", expr)?.evaluate(&Bindings::with_params(&params))
    }

    #[test]
    fn guide_transfer_condition_reads_parameters_by_name_and_through_params() {
        assert!(eval("amount > 10000", json!({"amount": 50000})).unwrap());
        assert!(!eval("amount > 10000", json!({"amount": 500})).unwrap());
        assert!(eval(
            "params.amount > 10000 && fromAccount == 'A'",
            json!({"amount": 10001, "fromAccount": "A"})
        )
        .unwrap());
    }

    /// `map` and `filter` build lists in their range's order: over a list
    /// parameter that is the list's order; over an object it would be the
    /// `cel` crate's hash order, different from one evaluation to the next,
    /// so that is refused before evaluating, and a range that cannot be
    /// checked beforehand is refused at compile time.
    #[test]
    fn lists_are_built_only_in_a_defined_order() {
        let items = json!({"items": [3, 1, 2], "m": {"a": 1, "b": 2, "c": 3}});
        for expr in [
            "params.items.filter(i, i > 1) == [3, 2]",
            "items.map(i, i * 2)[0] == 6",
            "[1, 2, 3].map(x, x + 1) == [2, 3, 4]",
            "params.m.all(k, k != 'z') && params.m.exists(k, k == 'b')",
            "size(params.m) == 3 && 'a' in params.m",
        ] {
            assert!(eval(expr, items.clone()).unwrap(), "{expr}");
        }
        // The same expression over an object: refused every time, naming it,
        // instead of a result that depends on the hash order.
        for _ in 0..8 {
            match eval("params.m.map(k, k)[0] == 'a'", items.clone()) {
                Err(DomainError::ConditionFailed { problem, .. }) => {
                    assert!(problem.contains("`params.m` is an object"), "{problem}")
                }
                other => panic!("{other:?}"),
            }
        }
        for expr in [
            "{'a': 1, 'b': 2}.map(k, k)[0] == 'a'",
            "params.orders.exists(o, o.lines.filter(l, l > 1).size() > 0)",
            "params['m'].filter(k, true).size() == 3",
        ] {
            assert!(
                matches!(
                    Condition::compile("spec.condition", expr),
                    Err(DomainError::InvalidExpression { ref problem, .. }) if problem.contains("no defined order")
                ),
                "{expr}"
            );
        }
    }

    #[test]
    fn errors_are_typed_and_name_the_field() {
        assert!(matches!(
            Condition::compile("spec.condition", "amount >"),
            Err(DomainError::InvalidExpression { field, .. }) if field == "spec.condition"
        ));
        assert!(matches!(
            eval("amount + 1", json!({"amount": 1})),
            Err(DomainError::ConditionFailed { problem, .. }) if problem.contains("not a bool")
        ));
        assert!(matches!(
            eval("missing > 1", json!({})),
            Err(DomainError::ConditionFailed { .. })
        ));
        assert!(Condition::compile("f", &"(".repeat(100)).is_err());
    }
}
