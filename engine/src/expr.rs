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
        Ok(Self {
            field: field.to_owned(),
            source: source.to_owned(),
            program,
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
