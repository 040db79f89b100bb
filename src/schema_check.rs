//! JSON Schema checks of example inputs and outputs against their dataset's schemas.
//! Pure: no HTTP, no database.

use serde_json::Value;

/// A compiled dataset schema.
pub struct Schema(jsonschema::Validator);

/// Compiles a schema; the error says what is wrong with it.
pub fn compile(schema: &Value, which: &str) -> Result<Schema, String> {
    jsonschema::validator_for(schema)
        .map(Schema)
        .map_err(|e| format!("{which} is not a valid JSON Schema: {e}"))
}

impl Schema {
    /// The first violation, naming the field: `inputs/question: 5 is not of type "string"`.
    pub fn check(&self, instance: &Value, field: &str) -> Result<(), String> {
        match self.0.iter_errors(instance).next() {
            None => Ok(()),
            Some(error) => Err(format!("{field}{}: {error}", error.instance_path())),
        }
    }
}

/// A dataset's two schemas, from their stored JSON text.
#[derive(Default)]
pub struct DatasetSchemas {
    pub inputs: Option<Schema>,
    pub outputs: Option<Schema>,
}

impl DatasetSchemas {
    pub fn from_texts(inputs: Option<&str>, outputs: Option<&str>) -> Result<Self, String> {
        let one = |text: Option<&str>, which: &str| {
            text.map(|t| {
                let value: Value = serde_json::from_str(t).map_err(|e| format!("{which}: {e}"))?;
                compile(&value, which)
            })
            .transpose()
        };
        Ok(DatasetSchemas {
            inputs: one(inputs, "inputs_schema_definition")?,
            outputs: one(outputs, "outputs_schema_definition")?,
        })
    }

    pub fn check(&self, inputs: &str, outputs: Option<&str>, label: &str) -> Result<(), String> {
        check_example(
            self.inputs.as_ref(),
            self.outputs.as_ref(),
            inputs,
            outputs,
            label,
        )
    }
}

/// Checks one example's inputs and outputs (JSON text) against the schemas that are set.
pub fn check_example(
    inputs_schema: Option<&Schema>,
    outputs_schema: Option<&Schema>,
    inputs: &str,
    outputs: Option<&str>,
    label: &str,
) -> Result<(), String> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    if let Some(schema) = inputs_schema {
        schema
            .check(&parse(inputs), "inputs")
            .map_err(|e| format!("{label}: {e}"))?;
    }
    if let Some(schema) = outputs_schema {
        let outputs = outputs.map_or(Value::Null, parse);
        schema
            .check(&outputs, "outputs")
            .map_err(|e| format!("{label}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        compile(
            &json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}),
            "inputs_schema_definition",
        )
        .unwrap()
    }

    #[test]
    fn violations_name_the_field() {
        let s = schema();
        assert!(check_example(Some(&s), None, r#"{"question": "hi"}"#, None, "example").is_ok());
        let err =
            check_example(Some(&s), None, r#"{"question": 5}"#, None, "example [1]").unwrap_err();
        assert!(err.starts_with("example [1]: inputs/question:"), "{err}");
        let err = check_example(Some(&s), None, r#"{}"#, None, "e").unwrap_err();
        assert!(err.contains("question"), "{err}");
        let err = check_example(None, Some(&s), "{}", None, "e").unwrap_err();
        assert!(err.contains("outputs"), "{err}");
    }

    #[test]
    fn bad_schemas_are_refused() {
        assert!(compile(&json!({"type": "nonsense"}), "inputs_schema_definition").is_err());
    }
}
