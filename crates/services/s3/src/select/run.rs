//! Running a checked S3 Select job over an object: records read one at a time, filtered,
//! projected or aggregated, written in batches as `Records` events, then `Progress` (if asked),
//! `Stats` and `End`; an error in the data ends the stream with an error event.

use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::plain::PlainBody;
use snapstack_protocol::codec::eventstream::message;

use super::eval::{Accumulator, Record, Scope, accumulate};
use super::input::{
    BlobRead, Budget, Chars, Counting, CsvReader, MAX_RECORD, json_error, over_max_record,
    parse_line, read_line,
};
use super::sql::{Expr, Projection, Step};
use super::value::Value;
use super::{Compression, HeaderInfo, InputFormat, Job, SelectError};

/// The object a job reads.
pub struct Source {
    /// `None`: an empty object.
    pub blob: Option<Arc<PlainBody>>,
}

impl Source {
    fn size(&self) -> u64 {
        self.blob.as_ref().map_or(0, |b| b.size())
    }

    fn open(&self, start: u64) -> Box<dyn Read + Send> {
        match &self.blob {
            Some(b) => Box::new(BlobRead::new(b.clone(), start, b.size())),
            None => Box::new(std::io::empty()),
        }
    }
}

/// Records events are cut at this size.
const BATCH: usize = 256 * 1024;
/// A Progress event (when asked for) every this many bytes processed.
const PROGRESS_EVERY: u64 = 1 << 20;

fn event(kind: &str, content_type: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut headers = vec![(":message-type", "event"), (":event-type", kind)];
    if let Some(ct) = content_type {
        headers.push((":content-type", ct));
    }
    message(&headers, payload)
}

fn error_event(e: &SelectError) -> Vec<u8> {
    let text: String = e.message.chars().take(4096).collect();
    message(
        &[
            (":message-type", "error"),
            (":error-code", e.code),
            (":error-message", text.as_str()),
        ],
        b"",
    )
}

struct Counters {
    scanned: Arc<AtomicU64>,
    processed: Arc<AtomicU64>,
    returned: u64,
}

impl Counters {
    fn xml(&self, root: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{root} xmlns=\"\"><BytesScanned>{}</BytesScanned><BytesProcessed>{}</BytesProcessed><BytesReturned>{}</BytesReturned></{root}>",
            self.scanned.load(Ordering::Relaxed),
            self.processed.load(Ordering::Relaxed),
            self.returned
        )
        .into_bytes()
    }
}

/// The records of the input, one at a time.
enum Reader {
    Csv(CsvReader<BufReader<Box<dyn Read + Send>>>),
    Lines {
        src: BufReader<Box<dyn Read + Send>>,
        offset: u64,
    },
    Document {
        values: Box<dyn Iterator<Item = Result<Value, serde_json::Error>> + Send>,
        mark: Arc<AtomicU64>,
    },
    /// Records already decoded (Parquet rows).
    Rows(Box<dyn Iterator<Item = Result<Value, SelectError>> + Send>),
}

struct Records {
    reader: Reader,
    /// Records a FROM path expanded and not yet taken.
    pending: VecDeque<Value>,
    from: Vec<Step>,
    /// The byte offset the reader's offset 0 is at, and the last byte a record may start at.
    base: u64,
    last: Option<u64>,
    decompressing: bool,
}

impl Records {
    fn next(&mut self) -> Result<Option<Record>, SelectError> {
        loop {
            if let Some(v) = self.pending.pop_front() {
                return Ok(Some(Record::Json(v)));
            }
            let past = |at: u64, last: Option<u64>| last.is_some_and(|l| at > l);
            let value = match &mut self.reader {
                Reader::Csv(r) => {
                    return Ok(match r.next_row()? {
                        Some((at, _)) if past(self.base + at, self.last) => None,
                        Some((_, row)) => Some(Record::Csv(row)),
                        None => None,
                    });
                }
                Reader::Lines { src, offset } => {
                    match read_line(src, offset, self.decompressing)? {
                        Some((at, _)) if past(self.base + at, self.last) => return Ok(None),
                        Some((_, line)) => match parse_line(&line)? {
                            Some(v) => v,
                            None => continue,
                        },
                        None => return Ok(None),
                    }
                }
                Reader::Document { values, mark } => {
                    mark.store(0, Ordering::Relaxed);
                    match values.next() {
                        Some(Ok(v)) => v,
                        Some(Err(e)) => return Err(json_error(&e)),
                        None => return Ok(None),
                    }
                }
                Reader::Rows(rows) => match rows.next() {
                    Some(v) => v?,
                    None => return Ok(None),
                },
            };
            self.expand(value);
        }
    }

    /// Apply the FROM path (`S3Object[*].Rules[*]`) to one top-level value.
    fn expand(&mut self, v: Value) {
        let steps = match self.from.split_first() {
            Some((Step::Wildcard, rest)) => rest,
            _ => &self.from[..],
        };
        let mut current = vec![v];
        for step in steps {
            let mut next = Vec::new();
            for v in current {
                match (step, v) {
                    (Step::Wildcard, Value::List(items)) => next.extend(items),
                    (Step::Wildcard, Value::Struct(fields)) => {
                        next.extend(fields.into_iter().map(|(_, v)| v))
                    }
                    (Step::Field { name, quoted }, Value::Struct(fields)) => {
                        let found = fields.iter().position(|(k, _)| k == name).or_else(|| {
                            (!quoted)
                                .then(|| {
                                    fields
                                        .iter()
                                        .position(|(k, _)| k.eq_ignore_ascii_case(name))
                                })
                                .flatten()
                        });
                        if let Some(i) = found {
                            next.push(
                                fields
                                    .into_iter()
                                    .nth(i)
                                    .map(|(_, v)| v)
                                    .unwrap_or(Value::Missing),
                            );
                        }
                    }
                    (Step::Index(i), Value::List(items)) => {
                        if let Some(v) = usize::try_from(*i)
                            .ok()
                            .and_then(|i| items.into_iter().nth(i))
                        {
                            next.push(v);
                        }
                    }
                    _ => {}
                }
            }
            current = next;
        }
        self.pending
            .extend(current.into_iter().filter(|v| *v != Value::Missing));
    }
}

/// Run a job, handing each event-stream message to `emit` (which answers false once the client
/// is gone).
pub fn run(job: &Job, src: &Source, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
    let mut counters = Counters {
        scanned: Arc::new(AtomicU64::new(0)),
        processed: Arc::new(AtomicU64::new(0)),
        returned: 0,
    };
    let mut out = String::new();
    let result = execute(job, src, &mut counters, &mut out, emit);
    match result {
        Ok(true) => {
            if !flush(&mut out, &mut counters, emit) {
                return;
            }
            if job.progress
                && !emit(event(
                    "Progress",
                    Some("text/xml"),
                    &counters.xml("Progress"),
                ))
            {
                return;
            }
            if emit(event("Stats", Some("text/xml"), &counters.xml("Stats"))) {
                emit(event("End", None, b""));
            }
        }
        Ok(false) => {}
        Err(e) => {
            if flush(&mut out, &mut counters, emit) {
                emit(error_event(&e));
            }
        }
    }
}

/// Send the records written so far as one Records event; false once the client is gone.
fn flush(out: &mut String, counters: &mut Counters, emit: &mut dyn FnMut(Vec<u8>) -> bool) -> bool {
    if out.is_empty() {
        return true;
    }
    counters.returned += out.len() as u64;
    let ok = emit(event(
        "Records",
        Some("application/octet-stream"),
        out.as_bytes(),
    ));
    out.clear();
    ok
}

/// The reader of the job's records, from `start` (0, or just before a scan range).
fn open(job: &Job, src: &Source, start: u64, counters: &Counters) -> Result<Reader, SelectError> {
    let raw = Counting {
        inner: src.open(start),
        count: counters.scanned.clone(),
    };
    let decoded: Box<dyn Read + Send> = match job.compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        // Concatenated streams too, as `bzip2 -c a b` writes them (and as S3 reads them).
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
    };
    let counted = Counting {
        inner: decoded,
        count: counters.processed.clone(),
    };
    let decompressing = job.compression != Compression::None;
    Ok(match &job.input {
        InputFormat::Parquet => Reader::Rows(super::parquet::rows(counted)?),
        InputFormat::Csv(opts, _) => {
            let src: Box<dyn Read + Send> = Box::new(counted);
            Reader::Csv(CsvReader::new(
                Chars::new(BufReader::new(src), decompressing),
                opts.clone(),
            ))
        }
        InputFormat::Json { lines: true } => {
            let src: Box<dyn Read + Send> = Box::new(counted);
            Reader::Lines {
                src: BufReader::new(src),
                offset: 0,
            }
        }
        InputFormat::Json { lines: false } => {
            let mark = Arc::new(AtomicU64::new(0));
            let budget = Budget {
                inner: counted,
                mark: mark.clone(),
            };
            let values =
                serde_json::Deserializer::from_reader(BufReader::new(budget)).into_iter::<Value>();
            Reader::Document {
                values: Box::new(values),
                mark,
            }
        }
    })
}

/// The names of the select list's columns (JSON output): an alias, a path's last field, or
/// `_N` by position.
fn column_names(items: &[(Expr, Option<String>)], table: Option<&str>) -> Vec<String> {
    items
        .iter()
        .enumerate()
        .map(|(i, (e, alias))| {
            alias.clone().unwrap_or_else(|| match e {
                Expr::Path(steps) => match steps.last() {
                    Some(Step::Field { name, .. })
                        if steps.len() > 1
                            || table.is_none_or(|t| !t.eq_ignore_ascii_case(name)) =>
                    {
                        name.clone()
                    }
                    _ => format!("_{}", i + 1),
                },
                _ => format!("_{}", i + 1),
            })
        })
        .collect()
}

/// Returns `Ok(false)` when the client went away.
fn execute(
    job: &Job,
    src: &Source,
    counters: &mut Counters,
    out: &mut String,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<bool, SelectError> {
    let q = &job.query;
    let size = src.size();
    // The scan range as the first and last byte a record may start at.
    let range = job.scan.map(|(start, end)| match (start, end) {
        (None, Some(n)) => (size.saturating_sub(n), size.saturating_sub(1)),
        (s, e) => (
            s.unwrap_or(0),
            e.unwrap_or(u64::MAX).min(size.saturating_sub(1)),
        ),
    });
    let (first, last) = match range {
        Some((s, e)) => (s, Some(e)),
        None => (0, None),
    };
    if size == 0 || (range.is_some() && first >= size) {
        return finish_empty(job, out);
    }
    let open_at = first.saturating_sub(1);
    let mut records = Records {
        reader: open(job, src, open_at, counters)?,
        pending: VecDeque::new(),
        from: q.from.clone(),
        base: open_at,
        last,
        decompressing: job.compression != Compression::None,
    };
    if first > 0 {
        match &mut records.reader {
            Reader::Csv(r) => r.skip_partial()?,
            Reader::Lines { src, offset } => {
                read_line(src, offset, records.decompressing)?;
            }
            Reader::Document { .. } | Reader::Rows(_) => {}
        }
    }
    // The CSV header: the object's first row (read apart when the range starts later).
    let mut header: Option<Vec<String>> = None;
    if let InputFormat::Csv(_, info) = &job.input
        && *info != HeaderInfo::None
    {
        let row = if first == 0 {
            match records.next()? {
                Some(Record::Csv(row)) => Some(row),
                _ => None,
            }
        } else {
            match open(job, src, 0, counters)? {
                Reader::Csv(mut r) => r.next_row()?.map(|(_, row)| row),
                _ => None,
            }
        };
        if *info == HeaderInfo::Use {
            header = row;
        }
    }
    let names = match &q.projection {
        Projection::Items(items) => column_names(items, q.alias.as_deref()),
        Projection::Star => Vec::new(),
    };
    let mut accs: Vec<Accumulator> = q
        .aggregates
        .iter()
        .map(|a| Accumulator::new(a.func))
        .collect();
    let scope = Scope {
        header: header.as_deref(),
        alias: q.alias.as_deref(),
        aggregates: &[],
    };
    let mut emitted: u64 = 0;
    let mut next_progress = PROGRESS_EVERY;
    while q.limit.is_none_or(|l| emitted < l) {
        let Some(rec) = records.next()? else {
            break;
        };
        if let Some(f) = &q.filter
            && scope.eval(f, &rec)?.truth() != Some(true)
        {
            continue;
        }
        if !accs.is_empty() {
            accumulate(&scope, &q.aggregates, &mut accs, &rec)?;
        } else {
            let before = out.len();
            project(job, &scope, &names, &rec, out)?;
            if out.len() - before > MAX_RECORD {
                return Err(over_max_record());
            }
            emitted += 1;
        }
        if out.len() >= BATCH && !flush(out, counters, emit) {
            return Ok(false);
        }
        if job.progress && counters.processed.load(Ordering::Relaxed) >= next_progress {
            next_progress += PROGRESS_EVERY;
            if !emit(event(
                "Progress",
                Some("text/xml"),
                &counters.xml("Progress"),
            )) {
                return Ok(false);
            }
        }
    }
    if !accs.is_empty() && q.limit != Some(0) {
        let results: Vec<Value> = accs.iter().map(Accumulator::result).collect();
        let scope = Scope {
            header: header.as_deref(),
            alias: q.alias.as_deref(),
            aggregates: &results,
        };
        project(job, &scope, &names, &Record::Csv(Vec::new()), out)?;
    }
    Ok(true)
}

/// No record to read (an empty object, or a scan range past its end): only aggregates answer.
fn finish_empty(job: &Job, out: &mut String) -> Result<bool, SelectError> {
    let q = &job.query;
    if !q.aggregates.is_empty() && q.limit != Some(0) {
        let results: Vec<Value> = q
            .aggregates
            .iter()
            .map(|a| Accumulator::new(a.func).result())
            .collect();
        let scope = Scope {
            header: None,
            alias: q.alias.as_deref(),
            aggregates: &results,
        };
        let names = match &q.projection {
            Projection::Items(items) => column_names(items, q.alias.as_deref()),
            Projection::Star => Vec::new(),
        };
        project(job, &scope, &names, &Record::Csv(Vec::new()), out)?;
    }
    Ok(true)
}

fn project(
    job: &Job,
    scope: &Scope<'_>,
    names: &[String],
    rec: &Record,
    out: &mut String,
) -> Result<(), SelectError> {
    match &job.query.projection {
        Projection::Star => match rec {
            Record::Csv(fields) => {
                let row = scope.columns(fields);
                job.output.write_row(&row, out);
            }
            Record::Json(v) => job.output.write_value(v, out),
        },
        Projection::Items(items) => {
            let mut row = Vec::with_capacity(items.len());
            for ((e, _), name) in items.iter().zip(names) {
                row.push((name.clone(), scope.eval(e, rec)?));
            }
            job.output.write_row(&row, out);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::output::Output;
    use super::*;
    use serde_json::json;
    use snapstack_protocol::codec::eventstream::decode;

    /// Run a job over `data` (through an in-memory engine's blob) and decode the events.
    fn select(req: serde_json::Value, data: &[u8]) -> Vec<(String, String, Vec<u8>)> {
        let engine = snapstack_engine::Engine::in_memory().unwrap();
        let mut w = engine.blob_writer();
        w.write(data).unwrap();
        let (id, _) = w.finish().unwrap();
        let blob = Arc::new(crate::plain::PlainBody::plain(
            engine.open_blob(&id).unwrap(),
            id,
        ));
        let job = Job::from_input(&req).unwrap();
        let mut bytes = Vec::new();
        run(&job, &Source { blob: Some(blob) }, &mut |m| {
            bytes.extend_from_slice(&m);
            true
        });
        let mut events = Vec::new();
        let mut at = 0;
        while let Some((m, n)) = decode(&bytes[at..]).unwrap() {
            at += n;
            let kind = m
                .header(":event-type")
                .or(m.header(":error-code"))
                .unwrap_or("")
                .to_string();
            let mt = m.header(":message-type").unwrap_or("").to_string();
            events.push((mt, kind, m.payload));
        }
        events
    }

    fn records(events: &[(String, String, Vec<u8>)]) -> String {
        events
            .iter()
            .filter(|(_, k, _)| k == "Records")
            .map(|(_, _, p)| String::from_utf8(p.clone()).unwrap())
            .collect()
    }

    fn req(sql: &str, input: serde_json::Value, output: serde_json::Value) -> serde_json::Value {
        json!({"Expression": sql, "ExpressionType": "SQL", "InputSerialization": input, "OutputSerialization": output})
    }

    #[test]
    fn parquet_rows_filtered_and_aggregated() {
        let file = super::super::parquet::sample_file();
        let ev = select(
            req(
                "SELECT s.name, s.score FROM S3Object s WHERE s.city LIKE 'Oslo%'",
                json!({"Parquet": {}}),
                json!({"JSON": {}}),
            ),
            &file,
        );
        assert_eq!(
            records(&ev),
            "{\"name\":\"Ann\",\"score\":9.5}\n{\"name\":\"Cy\",\"score\":7.25}\n"
        );
        let ev = select(
            req(
                "SELECT COUNT(*), SUM(s.age), MAX(s.score) FROM S3Object s",
                json!({"Parquet": {}}),
                json!({"CSV": {}}),
            ),
            &file,
        );
        assert_eq!(records(&ev), "3,96,9.5\n");
        let ev = select(
            req(
                "SELECT * FROM S3Object",
                json!({"Parquet": {}}),
                json!({"JSON": {}}),
            ),
            b"not parquet",
        );
        assert!(
            ev.iter().any(|(_, k, _)| k == "ParquetParsingError"),
            "{ev:?}"
        );
    }

    const PEOPLE: &str =
        "name,age,city\nAnn,31,Oslo\nBob,25,Rome\n# a comment\nCy,40,\"Oslo, Norway\"\n";

    #[test]
    fn csv_with_a_header_to_json_and_csv() {
        let ev = select(
            req(
                "SELECT s.name, s.age FROM S3Object s WHERE CAST(s.age AS INT) > 26",
                json!({"CSV": {"FileHeaderInfo": "USE"}}),
                json!({"JSON": {}}),
            ),
            PEOPLE.as_bytes(),
        );
        assert_eq!(
            records(&ev),
            "{\"name\":\"Ann\",\"age\":\"31\"}\n{\"name\":\"Cy\",\"age\":\"40\"}\n"
        );
        let kinds: Vec<&str> = ev.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["Records", "Stats", "End"]);
        let stats = String::from_utf8(ev[1].2.clone()).unwrap();
        assert!(
            stats.contains(&format!("<BytesScanned>{}</BytesScanned>", PEOPLE.len())),
            "{stats}"
        );
        let returned = format!("<BytesReturned>{}</BytesReturned>", records(&ev).len());
        assert!(stats.contains(&returned), "{stats}");
        let ev = select(
            req(
                "SELECT * FROM S3Object s WHERE s.city LIKE 'Oslo%' LIMIT 5",
                json!({"CSV": {"FileHeaderInfo": "USE"}}),
                json!({"CSV": {}}),
            ),
            PEOPLE.as_bytes(),
        );
        assert_eq!(records(&ev), "Ann,31,Oslo\nCy,40,\"Oslo, Norway\"\n");
        let ev = select(
            req(
                "SELECT s._1 FROM S3Object s LIMIT 2",
                json!({"CSV": {"FileHeaderInfo": "IGNORE"}}),
                json!({"CSV": {}}),
            ),
            PEOPLE.as_bytes(),
        );
        assert_eq!(records(&ev), "Ann\nBob\n");
        let ev = select(
            req(
                "SELECT * FROM S3Object LIMIT 1",
                json!({"CSV": {}}),
                json!({"JSON": {}}),
            ),
            PEOPLE.as_bytes(),
        );
        assert_eq!(
            records(&ev),
            "{\"_1\":\"name\",\"_2\":\"age\",\"_3\":\"city\"}\n"
        );
    }

    #[test]
    fn aggregates_answer_one_row() {
        let ev = select(
            req(
                "SELECT COUNT(*), SUM(CAST(s.age AS INT)), MAX(s.age), AVG(s.age) AS mean FROM S3Object s",
                json!({"CSV": {"FileHeaderInfo": "USE"}}),
                json!({"JSON": {}}),
            ),
            PEOPLE.as_bytes(),
        );
        assert_eq!(
            records(&ev),
            "{\"_1\":3,\"_2\":96,\"_3\":\"40\",\"mean\":32.0}\n"
        );
        let ev = select(
            req(
                "SELECT COUNT(*) FROM S3Object",
                json!({"CSV": {}}),
                json!({"CSV": {}}),
            ),
            b"",
        );
        assert_eq!(records(&ev), "0\n");
    }

    #[test]
    fn json_documents_and_lines() {
        let doc = br#"{"Rules": [{"id": 1, "tags": ["a"]}, {"id": 2}]} {"Rules": [{"id": 3}]}"#;
        let ev = select(
            req(
                "SELECT r.id FROM S3Object[*].Rules[*] r WHERE r.id > 1",
                json!({"JSON": {"Type": "DOCUMENT"}}),
                json!({"JSON": {}}),
            ),
            doc,
        );
        assert_eq!(records(&ev), "{\"id\":2}\n{\"id\":3}\n");
        let lines = b"{\"a\": {\"b\": 1}, \"z\": \"x\"}\n{\"a\": {\"b\": 2}}\n\n{\"a\": null}\n";
        let ev = select(
            req(
                "SELECT s.a.b, s.z FROM S3Object s",
                json!({"JSON": {"Type": "LINES"}}),
                json!({"CSV": {}}),
            ),
            lines,
        );
        assert_eq!(records(&ev), "1,x\n2,\n,\n");
        let ev = select(
            req(
                "SELECT * FROM S3Object s WHERE s.a.b = 2",
                json!({"JSON": {"Type": "LINES"}}),
                json!({"JSON": {}}),
            ),
            lines,
        );
        assert_eq!(records(&ev), "{\"a\":{\"b\":2}}\n");
        let ev = select(
            req(
                "SELECT * FROM S3Object",
                json!({"JSON": {"Type": "LINES"}}),
                json!({"JSON": {}}),
            ),
            b"{\"a\":1}\n{oops\n",
        );
        let last = ev.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str()),
            ("error", "JSONParsingError")
        );
        assert_eq!(records(&ev), "{\"a\":1}\n");
    }

    #[test]
    fn bzip2_input() {
        use std::io::Write;
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(PEOPLE.as_bytes()).unwrap();
        let mut data = bz.finish().unwrap();
        let ev = select(
            req(
                "SELECT s.name FROM S3Object s WHERE s.city = 'Rome'",
                json!({"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "BZIP2"}),
                json!({"CSV": {}}),
            ),
            &data,
        );
        assert_eq!(records(&ev), "Bob\n");
        // Damaged input ends the stream with S3's decompression error.
        let n = data.len();
        data[n / 2] ^= 0xff;
        data.truncate(n - 4);
        let ev = select(
            req(
                "SELECT * FROM S3Object",
                json!({"CSV": {}, "CompressionType": "BZIP2"}),
                json!({"CSV": {}}),
            ),
            &data,
        );
        assert_eq!(ev.last().unwrap().0, "error");
    }

    #[test]
    fn gzip_input_and_progress() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PEOPLE.as_bytes()).unwrap();
        let data = gz.finish().unwrap();
        let mut r = req(
            "SELECT s.name FROM S3Object s",
            json!({"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "GZIP"}),
            json!({"CSV": {}}),
        );
        r["RequestProgress"] = json!({"Enabled": true});
        let ev = select(r, &data);
        assert_eq!(records(&ev), "Ann\nBob\nCy\n");
        let kinds: Vec<&str> = ev.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["Records", "Progress", "Stats", "End"]);
        let stats = String::from_utf8(ev[2].2.clone()).unwrap();
        assert!(
            stats.contains(&format!("<BytesScanned>{}</BytesScanned>", data.len())),
            "{stats}"
        );
        assert!(
            stats.contains(&format!(
                "<BytesProcessed>{}</BytesProcessed>",
                PEOPLE.len()
            )),
            "{stats}"
        );
        let ev = select(
            req(
                "SELECT * FROM S3Object",
                json!({"CSV": {}, "CompressionType": "GZIP"}),
                json!({"CSV": {}}),
            ),
            b"not gzip at all",
        );
        assert_eq!(ev.last().unwrap().1, "TruncatedInput");
    }

    #[test]
    fn scan_ranges_take_the_records_that_start_inside() {
        let data = b"a,1\nbb,2\nccc,3\ndddd,4\n";
        let pick = |start: Option<u64>, end: Option<u64>| {
            let mut r = req(
                "SELECT s._1 FROM S3Object s",
                json!({"CSV": {}}),
                json!({"CSV": {}}),
            );
            let mut range = serde_json::Map::new();
            if let Some(s) = start {
                range.insert("Start".into(), json!(s));
            }
            if let Some(e) = end {
                range.insert("End".into(), json!(e));
            }
            r["ScanRange"] = serde_json::Value::Object(range);
            records(&select(r, data))
        };
        assert_eq!(pick(Some(0), Some(3)), "a\n");
        assert_eq!(pick(Some(0), Some(4)), "a\nbb\n");
        assert_eq!(pick(Some(1), Some(9)), "bb\nccc\n");
        assert_eq!(pick(Some(4), None), "bb\nccc\ndddd\n");
        assert_eq!(pick(None, Some(7)), "dddd\n");
        assert_eq!(pick(Some(100), None), "");
    }

    #[test]
    fn data_errors_end_the_stream_with_an_error_event() {
        let ev = select(
            req(
                "SELECT CAST(s._1 AS INT) FROM S3Object s",
                json!({"CSV": {}}),
                json!({"CSV": {}}),
            ),
            b"1\n2\nx\n",
        );
        assert_eq!(records(&ev), "1\n2\n");
        let last = ev.last().unwrap();
        assert_eq!((last.0.as_str(), last.1.as_str()), ("error", "CastFailed"));
        let ev = select(
            req(
                "SELECT * FROM S3Object",
                json!({"CSV": {}}),
                json!({"CSV": {}}),
            ),
            b"a,\xff\n",
        );
        assert_eq!(ev.last().unwrap().1, "InvalidTextEncoding");
    }

    #[test]
    fn output_settings() {
        let out = Output::Csv {
            field: "|".into(),
            record: "\r\n".into(),
            quote: "'".into(),
            escape: "\\".into(),
            always: true,
        };
        let mut r = req(
            "SELECT s._1, s._2 FROM S3Object s",
            json!({"CSV": {}}),
            json!({"CSV": {}}),
        );
        r["OutputSerialization"] = json!({"CSV": {"FieldDelimiter": "|", "RecordDelimiter": "\r\n", "QuoteCharacter": "'", "QuoteEscapeCharacter": "\\", "QuoteFields": "ALWAYS"}});
        assert_eq!(Job::from_input(&r).unwrap().output, out);
        assert_eq!(records(&select(r, b"it's,2\n")), "'it\\'s'|'2'\r\n");
    }
}
