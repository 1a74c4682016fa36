//! Parquet input for S3 Select, through the `parquet` crate's record API (no Arrow): the object
//! is read whole (a Parquet file is read from its footer), bounded by [`MAX_PARQUET`], and each
//! row becomes a record as a JSON record would (`s.column`, nested groups as structs, lists and
//! maps), in file order. Column compression GZIP and Snappy are read, as S3 documents.

use std::io::Read;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};

use super::SelectError;
use super::time::{Precision, Timestamp};
use super::value::Value;

/// The largest Parquet object read (it is held in memory while the job runs).
pub const MAX_PARQUET: u64 = 256 << 20;
/// Nesting of groups, lists and maps followed (deeper values become text).
const MAX_DEPTH: usize = 64;

/// The records of the Parquet object `src` reads.
pub fn rows(
    src: impl Read,
) -> Result<Box<dyn Iterator<Item = Result<Value, SelectError>> + Send>, SelectError> {
    let mut bytes = Vec::new();
    src.take(MAX_PARQUET + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| parsing(&e.to_string()))?;
    if bytes.len() as u64 > MAX_PARQUET {
        return Err(SelectError::new(
            "ObjectSerializationConflict",
            format!("Parquet objects over {MAX_PARQUET} bytes are not read by this emulator."),
        ));
    }
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).map_err(|e| error(&e))?;
    let reader: Box<dyn FileReader> = Box::new(reader);
    let rows = RowIter::from_file_into(reader)
        .map(|r| r.map(|row| row_value(&row, 0)).map_err(|e| error(&e)));
    Ok(Box::new(rows))
}

fn parsing(detail: &str) -> SelectError {
    SelectError::new(
        "ParquetParsingError",
        format!("Error parsing the Parquet file. Please check the file and try again. ({detail})"),
    )
}

fn error(e: &parquet::errors::ParquetError) -> SelectError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("codec") || lower.contains("compression") {
        return SelectError::new(
            "ParquetUnsupportedCompressionCodec",
            format!("The specified Parquet compression codec is not supported. ({text})"),
        );
    }
    parsing(&text)
}

fn row_value(row: &Row, depth: usize) -> Value {
    Value::Struct(
        row.get_column_iter()
            .map(|(name, f)| (name.clone(), field_value(f, depth + 1)))
            .collect(),
    )
}

fn timestamp(secs: i64, nanos: u32, digits: u8) -> Value {
    Value::Timestamp(Timestamp {
        secs,
        nanos,
        offset: Some(0),
        precision: Precision::Fraction(digits),
    })
}

fn field_value(f: &Field, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Str(f.to_string());
    }
    match f {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::Int(i64::from(*n)),
        Field::Short(n) => Value::Int(i64::from(*n)),
        Field::Int(n) => Value::Int(i64::from(*n)),
        Field::Long(n) => Value::Int(*n),
        Field::UByte(n) => Value::Int(i64::from(*n)),
        Field::UShort(n) => Value::Int(i64::from(*n)),
        Field::UInt(n) => Value::Int(i64::from(*n)),
        Field::ULong(n) => i64::try_from(*n).map_or(Value::Float(*n as f64), Value::Int),
        Field::Float(x) => Value::Float(f64::from(*x)),
        Field::Double(x) => Value::Float(*x),
        Field::Str(s) => Value::Str(s.clone()),
        Field::Bytes(b) => Value::Str(String::from_utf8_lossy(b.data()).into_owned()),
        Field::Date(days) => Value::Timestamp(Timestamp {
            secs: i64::from(*days) * 86_400,
            nanos: 0,
            offset: None,
            precision: Precision::Day,
        }),
        Field::TimestampMillis(ms) => timestamp(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
            3,
        ),
        Field::TimestampMicros(us) => timestamp(
            us.div_euclid(1_000_000),
            (us.rem_euclid(1_000_000) * 1000) as u32,
            6,
        ),
        Field::Decimal(_) => {
            let text = f.to_string();
            text.parse::<f64>().map_or(Value::Str(text), Value::Float)
        }
        Field::Group(row) => row_value(row, depth),
        Field::ListInternal(list) => Value::List(
            list.elements()
                .iter()
                .map(|e| field_value(e, depth + 1))
                .collect(),
        ),
        Field::MapInternal(map) => Value::Struct(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Field::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, field_value(v, depth + 1))
                })
                .collect(),
        ),
        // Times of day, half floats and anything newer: their text.
        other => Value::Str(other.to_string()),
    }
}

/// A small Parquet file (Snappy-compressed columns) of people, for tests: name, age, score
/// (optional: null for Bob), city; with `SNAPSTACK_WRITE_PARQUET_FIXTURE=path` the unit test
/// writes it there (the e2e's `tests/fixtures/select/people.parquet`).
#[cfg(test)]
pub fn sample_file() -> Vec<u8> {
    use std::sync::Arc;

    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = Arc::new(
        parse_message_type(
            "message people { REQUIRED BYTE_ARRAY name (UTF8); REQUIRED INT32 age; \
             OPTIONAL DOUBLE score; REQUIRED BYTE_ARRAY city (UTF8); }",
        )
        .unwrap(),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let text = |xs: &[&str]| xs.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
    let mut i = 0;
    while let Some(mut col) = rg.next_column().unwrap() {
        match i {
            0 => {
                col.typed::<ByteArrayType>()
                    .write_batch(&text(&["Ann", "Bob", "Cy"]), None, None)
                    .unwrap();
            }
            1 => {
                col.typed::<Int32Type>()
                    .write_batch(&[31, 25, 40], None, None)
                    .unwrap();
            }
            2 => {
                col.typed::<DoubleType>()
                    .write_batch(&[9.5, 7.25], Some(&[1, 0, 1]), None)
                    .unwrap();
            }
            _ => {
                col.typed::<ByteArrayType>()
                    .write_batch(&text(&["Oslo", "Rome", "Oslo, Norway"]), None, None)
                    .unwrap();
            }
        }
        col.close().unwrap();
        i += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_snappy_file() {
        let file = sample_file();
        if let Ok(path) = std::env::var("SNAPSTACK_WRITE_PARQUET_FIXTURE") {
            std::fs::write(path, &file).unwrap();
        }
        let rows: Vec<Value> = rows(&file[..]).unwrap().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            Value::Struct(vec![
                ("name".into(), Value::Str("Bob".into())),
                ("age".into(), Value::Int(25)),
                ("score".into(), Value::Null),
                ("city".into(), Value::Str("Rome".into())),
            ])
        );
        assert_eq!(
            rows[2],
            Value::Struct(vec![
                ("name".into(), Value::Str("Cy".into())),
                ("age".into(), Value::Int(40)),
                ("score".into(), Value::Float(7.25)),
                ("city".into(), Value::Str("Oslo, Norway".into())),
            ])
        );
    }

    #[test]
    fn not_parquet_is_a_parsing_error() {
        let e = rows(&b"name,age\nAnn,31\n"[..]).err().unwrap();
        assert_eq!(e.code, "ParquetParsingError");
        let mut cut = sample_file();
        cut.truncate(cut.len() / 2);
        assert_eq!(rows(&cut[..]).err().unwrap().code, "ParquetParsingError");
    }
}
