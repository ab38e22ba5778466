//! Builds the JSON Schema documents committed under `schemas/json/`.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Value};

use crate::commands::*;
use crate::replies::Reply;
use crate::subjects::subject_map;

/// `(file name, pretty JSON)` for every document, in a stable order.
pub fn documents() -> Vec<(&'static str, String)> {
    let pretty = |v: Value| serde_json::to_string_pretty(&v).expect("schema serializes") + "\n";
    vec![
        ("commands.schema.json", pretty(commands_schema())),
        (
            "replies.schema.json",
            pretty(root::<Reply>("signoff command reply", crate::WIRE_VERSION)),
        ),
        (
            "events.schema.json",
            pretty(root::<signoff_eventstore::Commit>(
                "signoff commit (one JetStream message; MessagePack with named fields)",
                signoff_engine::EVENT_SCHEMA_VERSION,
            )),
        ),
        (
            "workflow-spec.schema.json",
            pretty(root::<signoff_engine::WorkflowSpec>(
                "signoff workflow spec",
                crate::WIRE_VERSION,
            )),
        ),
        (
            "subjects.json",
            pretty(serde_json::to_value(subject_map()).expect("subject map serializes")),
        ),
    ]
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

fn root<T: JsonSchema>(title: &str, version: u32) -> Value {
    let mut schema = generator().into_root_schema_for::<T>().to_value();
    let object = schema.as_object_mut().expect("root schema is an object");
    object.insert("title".into(), json!(title));
    object.insert("x-signoff-version".into(), json!(version));
    schema
}

fn commands_schema() -> Value {
    let mut generator = generator();
    let mut actions = serde_json::Map::new();
    macro_rules! body {
        ($action:literal, $ty:ty) => {
            actions.insert(
                crate::subjects::command_subject($action),
                generator.subschema_for::<$ty>().to_value(),
            );
        };
    }
    body!("submit", SubmitBody);
    body!("approve", ApproveBody);
    body!("reject", RejectBody);
    body!("cancel", CancelBody);
    body!("expire", ExpireBody);
    body!("escalate", EscalateBody);
    body!("remind", RemindBody);
    body!("record-execution", RecordExecutionBody);
    let defs: serde_json::Map<String, Value> =
        generator.take_definitions(true).into_iter().collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "signoff command bodies, by subject",
        "description": format!(
            "A command body is a JSON object of at most {} bytes (else COMMAND_TOO_LARGE); unknown fields, wrong types and other shapes are MALFORMED_COMMAND naming the field.",
            crate::subjects::MAX_COMMAND_BYTES
        ),
        "x-signoff-version": crate::WIRE_VERSION,
        "x-subjects": actions,
        "$defs": defs,
    })
}
