//! Printing results as text or JSON.

use serde_json::Value;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `key: value` lines for people.
    Text,
    /// One JSON document for programs.
    Json,
}

impl Output {
    /// Prints a JSON object in the chosen format.
    pub fn print(self, v: &Value) {
        match self {
            Output::Json => println!("{v}"),
            Output::Text => print_text(v, ""),
        }
    }
}

fn print_text(v: &Value, indent: &str) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(_) | Value::Array(_) => {
                        println!("{indent}{k}:");
                        print_text(v, &format!("{indent}  "));
                    }
                    Value::String(s) => println!("{indent}{k}: {s}"),
                    other => println!("{indent}{k}: {other}"),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        println!("{indent}-");
                        print_text(item, &format!("{indent}  "));
                    }
                    Value::String(s) => println!("{indent}- {s}"),
                    other => println!("{indent}- {other}"),
                }
            }
        }
        Value::String(s) => println!("{indent}{s}"),
        other => println!("{indent}{other}"),
    }
}
