//! Writing S3 Select's result records as CSV or JSON (OutputSerialization).

use super::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Csv {
        field: String,
        record: String,
        quote: String,
        escape: String,
        /// QuoteFields ALWAYS (else ASNEEDED).
        always: bool,
    },
    Json {
        record: String,
    },
}

impl Output {
    /// One result row: its columns' names (for JSON) and values.
    pub fn write_row(&self, row: &[(String, Value)], out: &mut String) {
        match self {
            Output::Csv {
                field,
                record,
                quote,
                escape,
                always,
            } => {
                for (i, (_, v)) in row.iter().enumerate() {
                    if i > 0 {
                        out.push_str(field);
                    }
                    let text = v.to_text();
                    let needs = *always
                        || (!quote.is_empty()
                            && (text.contains(field.as_str())
                                || text.contains(record.as_str())
                                || text.contains(quote.as_str())
                                || text.contains(['\n', '\r'])));
                    if needs && !quote.is_empty() {
                        out.push_str(quote);
                        out.push_str(&text.replace(quote.as_str(), &format!("{escape}{quote}")));
                        out.push_str(quote);
                    } else {
                        out.push_str(&text);
                    }
                }
                out.push_str(record);
            }
            Output::Json { record } => {
                Value::Struct(row.to_vec()).write_json(out);
                out.push_str(record);
            }
        }
    }

    /// A whole JSON record as the row of `SELECT *`.
    pub fn write_value(&self, v: &Value, out: &mut String) {
        match (self, v) {
            (Output::Json { record }, Value::Struct(_)) => {
                v.write_json(out);
                out.push_str(record);
            }
            (Output::Csv { .. }, Value::Struct(fields)) => self.write_row(fields, out),
            (_, v) => self.write_row(&[("_1".to_string(), v.clone())], out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(always: bool) -> Output {
        Output::Csv {
            field: ",".into(),
            record: "\n".into(),
            quote: "\"".into(),
            escape: "\"".into(),
            always,
        }
    }

    #[test]
    fn rows() {
        let row = vec![
            ("a".to_string(), Value::Str("x,y".into())),
            ("b".to_string(), Value::Int(3)),
            ("c".to_string(), Value::Str("say \"hi\"".into())),
            ("d".to_string(), Value::Missing),
            ("e".to_string(), Value::Null),
        ];
        let mut out = String::new();
        csv(false).write_row(&row, &mut out);
        assert_eq!(out, "\"x,y\",3,\"say \"\"hi\"\"\",,\n");
        out.clear();
        csv(true).write_row(&row[..2], &mut out);
        assert_eq!(out, "\"x,y\",\"3\"\n");
        out.clear();
        Output::Json {
            record: "\n".into(),
        }
        .write_row(&row, &mut out);
        assert_eq!(
            out,
            "{\"a\":\"x,y\",\"b\":3,\"c\":\"say \\\"hi\\\"\",\"e\":null}\n"
        );
        out.clear();
        Output::Json { record: ";".into() }.write_value(&Value::Int(1), &mut out);
        assert_eq!(out, "{\"_1\":1};");
    }
}
