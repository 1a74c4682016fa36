//! SelectObjectContent (S3 Select): an SQL expression run over one object's CSV or JSON
//! records (optionally GZIP- or BZIP2-compressed, optionally a scan range of it), answered as an AWS event
//! stream of `Records`, `Progress` (if asked), `Stats` and `End` events.
//!
//! The request is read and checked before the answer starts (its errors are ordinary S3 error
//! documents: `InvalidExpressionType`, `ParseUnexpectedToken`, `NoSuchKey`, ...); the object is
//! then streamed from its blob on a blocking thread, record by record, and an error found in the
//! data (`CSVParsingError`, `CastFailed`, ...) ends the stream with an error event, as S3 sends
//! it. The SQL is parsed by a hand-written parser ([`sql`]): no SQL crate speaks S3 Select's
//! dialect.

mod ast;
mod eval;
mod input;
mod lex;
mod output;
mod parquet;
mod run;
pub(crate) mod sql;
mod time;
mod value;

use std::sync::Arc;

use serde_json::Value as Json;
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::codec::eventstream;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::Response;

use self::input::CsvIn;
use self::output::Output;
use self::sql::Query;
use crate::subres::read_input;
use crate::{NAME, Req, S3, S3Error, S3Result};

/// An S3 Select error: its code and message (all 400 but the emulator's own 500 and 501).
#[derive(Clone, Debug, PartialEq)]
pub struct SelectError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
}

impl SelectError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        SelectError {
            code,
            message: message.into(),
            status: 400,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        SelectError {
            code: "InternalError",
            message: message.into(),
            status: 500,
        }
    }

    fn lexer_literal() -> Self {
        SelectError::new(
            "LexerInvalidLiteral",
            "The SQL expression contains a literal that is not valid.",
        )
    }

    fn into_s3(self) -> S3Error {
        S3Error::new(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST),
            self.code,
            self.message,
        )
    }
}

fn invalid_parameter(what: &str) -> SelectError {
    SelectError::new(
        "InvalidRequestParameter",
        format!(
            "The value of a parameter in the SelectRequest element is not valid. Check the service API documentation and try again. ({what})"
        ),
    )
}

fn missing_parameter(what: &str) -> SelectError {
    SelectError::new(
        "MissingRequiredParameter",
        format!(
            "The SelectRequest entity is missing a required parameter. Check the service documentation and try again. ({what})"
        ),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderInfo {
    None,
    Use,
    Ignore,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InputFormat {
    Csv(CsvIn, HeaderInfo),
    /// JSON: `true` for LINES, `false` for DOCUMENT.
    Json {
        lines: bool,
    },
    /// Parquet (its rows as records, like JSON's).
    Parquet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

/// A checked request.
#[derive(Clone, Debug)]
pub struct Job {
    pub query: Query,
    pub input: InputFormat,
    pub compression: Compression,
    pub output: Output,
    pub progress: bool,
    /// ScanRange's Start and End, as sent.
    pub scan: Option<(Option<u64>, Option<u64>)>,
}

/// A string member: absent, or present (possibly empty).
fn text<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Json::as_str)
}

/// A one-character setting: the default when absent, else exactly one character.
fn one_char(v: &Json, name: &str, default: char) -> Result<char, SelectError> {
    match text(v, name) {
        None | Some("") => Ok(default),
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(invalid_parameter(name)),
            }
        }
    }
}

/// An output delimiter or quote: the default when absent, at most 16 bytes.
fn short(v: &Json, name: &str, default: &str) -> Result<String, SelectError> {
    match text(v, name) {
        None => Ok(default.to_string()),
        Some(s) if s.len() <= 16 => Ok(s.to_string()),
        Some(_) => Err(invalid_parameter(name)),
    }
}

impl Job {
    /// The request's input (the codec's neutral JSON), checked as S3 checks it.
    pub fn from_input(input: &Json) -> Result<Job, SelectError> {
        let expression =
            text(input, "Expression").ok_or_else(|| missing_parameter("Expression"))?;
        match text(input, "ExpressionType") {
            Some("SQL") => {}
            Some(_) => {
                return Err(SelectError::new(
                    "InvalidExpressionType",
                    "The ExpressionType value is not valid. Only SQL expressions are supported.",
                ));
            }
            None => return Err(missing_parameter("ExpressionType")),
        }
        let ins = input
            .get("InputSerialization")
            .ok_or_else(|| missing_parameter("InputSerialization"))?;
        let outs = input
            .get("OutputSerialization")
            .ok_or_else(|| missing_parameter("OutputSerialization"))?;
        let formats = ["CSV", "JSON", "Parquet"]
            .into_iter()
            .filter(|f| ins.get(*f).is_some())
            .count();
        if formats > 1
            || ["CSV", "JSON"]
                .into_iter()
                .filter(|f| outs.get(*f).is_some())
                .count()
                > 1
        {
            return Err(SelectError::new(
                "ObjectSerializationConflict",
                "InputSerialization specifies more than one format (CSV, JSON, or Parquet), or OutputSerialization specifies more than one format (CSV or JSON). For InputSerialization and OutputSerialization, you can specify only one format for each.",
            ));
        }
        let compression = match text(ins, "CompressionType") {
            None | Some("NONE") => Compression::None,
            Some("GZIP") => Compression::Gzip,
            Some("BZIP2") => Compression::Bzip2,
            Some(_) => {
                return Err(SelectError::new(
                    "InvalidCompressionFormat",
                    "The file is not in a supported compression format. Only GZIP and BZIP2 are supported.",
                ));
            }
        };
        let input_format = if let Some(csv) = ins.get("CSV") {
            let header = match text(csv, "FileHeaderInfo") {
                None | Some("NONE") => HeaderInfo::None,
                Some("USE") => HeaderInfo::Use,
                Some("IGNORE") => HeaderInfo::Ignore,
                Some(_) => {
                    return Err(SelectError::new(
                        "InvalidFileHeaderInfo",
                        "The FileHeaderInfo value is not valid. Only NONE, USE, and IGNORE are supported.",
                    ));
                }
            };
            let quote = one_char(csv, "QuoteCharacter", '"')?;
            let record = match text(csv, "RecordDelimiter") {
                Some("\r\n") => '\n',
                _ => one_char(csv, "RecordDelimiter", '\n')?,
            };
            let opts = CsvIn {
                field: one_char(csv, "FieldDelimiter", ',')?,
                record,
                quote,
                escape: one_char(csv, "QuoteEscapeCharacter", quote)?,
                comment: match text(csv, "Comments") {
                    Some("") => None,
                    _ => Some(one_char(csv, "Comments", '#')?),
                },
                allow_quoted_record_delimiter: csv
                    .get("AllowQuotedRecordDelimiter")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
            };
            if opts.field == opts.record {
                return Err(invalid_parameter("FieldDelimiter"));
            }
            InputFormat::Csv(opts, header)
        } else if let Some(json) = ins.get("JSON") {
            let lines = match text(json, "Type") {
                Some(t) if t.eq_ignore_ascii_case("LINES") => true,
                Some(t) if t.eq_ignore_ascii_case("DOCUMENT") => false,
                None => false,
                Some(_) => {
                    return Err(SelectError::new(
                        "InvalidJsonType",
                        "The JsonType value is not valid. Only DOCUMENT and LINES are supported.",
                    ));
                }
            };
            InputFormat::Json { lines }
        } else if ins.get("Parquet").is_some() {
            // Parquet compresses its columns itself: the object as a whole is not compressed.
            if compression != Compression::None {
                return Err(SelectError::new(
                    "InvalidCompressionFormat",
                    "The file is not in a supported compression format. Parquet objects must have CompressionType NONE.",
                ));
            }
            InputFormat::Parquet
        } else {
            return Err(missing_parameter(
                "InputSerialization (CSV, JSON or Parquet)",
            ));
        };
        let output = if let Some(csv) = outs.get("CSV") {
            let always = match text(csv, "QuoteFields") {
                None | Some("ASNEEDED") => false,
                Some("ALWAYS") => true,
                Some(_) => {
                    return Err(SelectError::new(
                        "InvalidQuoteFields",
                        "The QuoteFields value is not valid. Only ALWAYS and ASNEEDED are supported.",
                    ));
                }
            };
            let quote = short(csv, "QuoteCharacter", "\"")?;
            Output::Csv {
                field: short(csv, "FieldDelimiter", ",")?,
                record: short(csv, "RecordDelimiter", "\n")?,
                escape: short(csv, "QuoteEscapeCharacter", &quote)?,
                quote,
                always,
            }
        } else if let Some(json) = outs.get("JSON") {
            Output::Json {
                record: short(json, "RecordDelimiter", "\n")?,
            }
        } else {
            return Err(missing_parameter("OutputSerialization (CSV or JSON)"));
        };
        let scan = match input.get("ScanRange") {
            Some(r) => {
                let bound = |name: &str| -> Result<Option<u64>, SelectError> {
                    match r.get(name) {
                        None | Some(Json::Null) => Ok(None),
                        Some(v) => v.as_u64().map(Some).ok_or_else(invalid_scan_range),
                    }
                };
                let (start, end) = (bound("Start")?, bound("End")?);
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    return Err(invalid_scan_range());
                }
                let unsupported = compression != Compression::None
                    || matches!(
                        input_format,
                        InputFormat::Json { lines: false } | InputFormat::Parquet
                    )
                    || matches!(&input_format, InputFormat::Csv(o, _) if o.allow_quoted_record_delimiter);
                if unsupported {
                    return Err(SelectError::new(
                        "UnsupportedScanRangeInput",
                        "Scan range queries are not supported on this type of object.",
                    ));
                }
                Some((start, end))
            }
            None => None,
        };
        let query = sql::parse(expression)?;
        Ok(Job {
            query,
            input: input_format,
            compression,
            output,
            progress: input
                .pointer("/RequestProgress/Enabled")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            scan,
        })
    }
}

fn invalid_scan_range() -> SelectError {
    SelectError::new("InvalidScanRange", "The provided scan range is not valid.")
}

impl S3 {
    /// SelectObjectContent: check the request, then stream the results as events.
    pub(crate) async fn select_object_content(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<Response> {
        let input = read_input(r, &body)?;
        let job = Job::from_input(&input).map_err(SelectError::into_s3)?;
        let o = self.find_object(r, r.bucket(), r.key(), None)?;
        let what = format!("object {}/{}", r.bucket(), r.key());
        let key = self
            .opener(r, o.sealed.as_deref(), crate::sse_c::Target::Object)
            .await?;
        let blob = match o.blob {
            Some(id) => Some(Arc::new(
                crate::plain::PlainBody::open(&self.engine, &id, o.size, o.sealed.as_deref(), key)
                    .map_err(|e| {
                        self.engine.damaged_read(NAME, &what, &e);
                        S3Error::internal(format!("The object's stored body is damaged: {e}"))
                    })?,
            )),
            None => None,
        };
        let source = run::Source { blob };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        tokio::task::spawn_blocking(move || {
            run::run(&job, &source, &mut |message| {
                tx.blocking_send(Ok(Bytes::from(message))).is_ok()
            });
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut resp = Response::new(Body::from_stream(stream));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(eventstream::CONTENT_TYPE),
        );
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(v: Json) -> Result<Job, SelectError> {
        Job::from_input(&v)
    }

    fn base() -> Json {
        json!({
            "Expression": "SELECT * FROM S3Object",
            "ExpressionType": "SQL",
            "InputSerialization": {"CSV": {}},
            "OutputSerialization": {"CSV": {}},
        })
    }

    #[test]
    fn requests_are_checked_as_s3_checks_them() {
        let j = job(base()).unwrap();
        assert_eq!(
            j.input,
            InputFormat::Csv(CsvIn::default(), HeaderInfo::None)
        );
        let code = |f: &dyn Fn(&mut Json)| {
            let mut v = base();
            f(&mut v);
            job(v).unwrap_err().code
        };
        assert_eq!(
            code(&|v| v["ExpressionType"] = json!("XPATH")),
            "InvalidExpressionType"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"]["JSON"] = json!({})),
            "ObjectSerializationConflict"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"]["CompressionType"] = json!("ZIP")),
            "InvalidCompressionFormat"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"]["CSV"]["FileHeaderInfo"] = json!("MAYBE")),
            "InvalidFileHeaderInfo"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"] = json!({"JSON": {"Type": "TREE"}})),
            "InvalidJsonType"
        );
        assert_eq!(
            code(&|v| v["OutputSerialization"]["CSV"]["QuoteFields"] = json!("NEVER")),
            "InvalidQuoteFields"
        );
        assert_eq!(
            code(&|v| v["ScanRange"] = json!({"Start": 10, "End": 5})),
            "InvalidScanRange"
        );
        assert_eq!(
            code(&|v| {
                v["ScanRange"] = json!({"Start": 1});
                v["InputSerialization"]["CompressionType"] = json!("GZIP");
            }),
            "UnsupportedScanRangeInput"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"] = json!({"Parquet": {}, "CompressionType": "GZIP"})),
            "InvalidCompressionFormat"
        );
        assert_eq!(
            code(&|v| {
                v["InputSerialization"] = json!({"Parquet": {}});
                v["ScanRange"] = json!({"Start": 1});
            }),
            "UnsupportedScanRangeInput"
        );
        assert_eq!(
            code(&|v| v["Expression"] = json!("SELECT")),
            "ParseExpectedExpression"
        );
        assert_eq!(
            code(&|v| v["InputSerialization"]["CSV"]["FieldDelimiter"] = json!("ab")),
            "InvalidRequestParameter"
        );
        let mut v = base();
        v["InputSerialization"] = json!({"JSON": {"Type": "LINES"}, "CompressionType": "GZIP"});
        v["OutputSerialization"] = json!({"JSON": {"RecordDelimiter": ";"}});
        v["RequestProgress"] = json!({"Enabled": true});
        let j = job(v).unwrap();
        assert_eq!(j.input, InputFormat::Json { lines: true });
        assert_eq!(j.compression, Compression::Gzip);
        assert!(j.progress);
    }
}
