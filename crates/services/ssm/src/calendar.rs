//! GetCalendarState: the state of Change Calendar documents at a time, from their iCalendar
//! content (RFC 5545): `X-CALENDAR-TYPE:DEFAULT_OPEN` calendars are CLOSED during their events,
//! `DEFAULT_CLOSED` ones OPEN; several calendars are OPEN only if all are. Event times are
//! `DTSTART`/`DTEND` as UTC date-times or dates (a `TZID` is read as UTC here; recurrence rules
//! are not expanded).

use super::objects::*;
use super::*;
use snapstack_protocol::codec::time::days_from_civil;

/// One calendar: whether it is open by default, and its events as `[start, end)` in ms.
#[derive(Debug, PartialEq)]
pub(super) struct Calendar {
    pub(super) default_open: bool,
    pub(super) events: Vec<(i64, i64)>,
}

/// `YYYYMMDD` or `YYYYMMDDTHHMMSS[Z]`, as ms since the epoch.
fn ical_time(v: &str) -> Option<i64> {
    let v = v.trim().trim_end_matches('Z');
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(v.get(0..4)?)?, num(v.get(4..6)?)?, num(v.get(6..8)?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // In range (checked above): the conversions cannot fail.
    let (m, d) = (u32::try_from(m).ok()?, u32::try_from(d).ok()?);
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if v.len() > 8 {
        let t = v.get(8..)?.strip_prefix('T')?;
        let (h, mi, s) = (num(t.get(0..2)?)?, num(t.get(2..4)?)?, num(t.get(4..6)?)?);
        secs += h * 3600 + mi * 60 + s;
    }
    Some(secs * 1000)
}

pub(super) fn parse_calendar(content: &str) -> Option<Calendar> {
    if !content.contains("BEGIN:VCALENDAR") {
        return None;
    }
    let mut cal = Calendar {
        default_open: true,
        events: Vec::new(),
    };
    let (mut start, mut end) = (None, None);
    let mut in_event = false;
    for line in content.lines() {
        let line = line.trim_end_matches('\r');
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n.split(';').next().unwrap_or(n), v),
            None => continue,
        };
        match (name, value) {
            ("X-CALENDAR-TYPE", v) => cal.default_open = v.trim() != "DEFAULT_CLOSED",
            ("BEGIN", "VEVENT") => {
                in_event = true;
                (start, end) = (None, None);
            }
            ("END", "VEVENT") => {
                in_event = false;
                if let Some(s) = start {
                    // A date without an end lasts the day.
                    let e = end.unwrap_or(s + 86_400_000);
                    if e > s {
                        cal.events.push((s, e));
                    }
                }
            }
            ("DTSTART", v) if in_event => start = ical_time(v),
            ("DTEND", v) if in_event => end = ical_time(v),
            _ => {}
        }
    }
    Some(cal)
}

impl Calendar {
    fn open_at(&self, t: i64) -> bool {
        let in_event = self.events.iter().any(|(s, e)| *s <= t && t < *e);
        self.default_open != in_event
    }

    fn next_transition(&self, t: i64) -> Option<i64> {
        self.events
            .iter()
            .flat_map(|(s, e)| [*s, *e])
            .filter(|x| *x > t)
            .min()
    }
}

impl Ssm {
    pub(super) fn get_calendar_state(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let names = arr(input, "CalendarNames");
        let at = match s(input, "AtTime") {
            Some(t) => snapstack_protocol::codec::time::parse_iso8601(t).ok_or_else(|| {
                AwsError::validation(format!("The AtTime {t} is not a valid ISO 8601 time."))
            })?,
            None => now_ms() as i64,
        };
        let snap = self.store.snapshot();
        let mut open = true;
        let mut next: Option<i64> = None;
        for n in names {
            let requested = n.as_str().unwrap_or("");
            let name = documents::doc_name(ctx, requested);
            let doc = documents::find_doc(&snap, ctx, &name).ok_or_else(|| {
                AwsError::new(
                    "InvalidDocument",
                    format!("Document {requested} does not exist."),
                )
            })?;
            if doc.head.document_type != "ChangeCalendar" {
                return Err(AwsError::new(
                    "InvalidDocumentType",
                    format!("Document {requested} is not a Change Calendar."),
                ));
            }
            let v = documents::select_version(&snap, ctx, &doc, None, None)?;
            let cal = parse_calendar(&v.content).ok_or_else(|| {
                AwsError::new(
                    "UnsupportedCalendarException",
                    format!("The calendar {requested} is not a supported iCalendar."),
                )
            })?;
            open &= cal.open_at(at);
            if let Some(t) = cal.next_transition(at) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let iso = |ms: i64| snapstack_protocol::codec::time::iso8601(ms, false);
        let mut out = json!({"State": if open { "OPEN" } else { "CLOSED" }, "AtTime": iso(at)});
        if let Some(t) = next {
            out["NextTransitionTime"] = json!(iso(t));
        }
        ok(out, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ICS: &str = "BEGIN:VCALENDAR\r\nPRODID:-//AWS//Change Calendar 1.0//EN\r\nVERSION:2.0\r\nX-CALENDAR-TYPE:DEFAULT_OPEN\r\nBEGIN:VEVENT\r\nDTSTART:20300101T100000Z\r\nDTEND:20300101T120000Z\r\nSUMMARY:freeze\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20300105\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn events_close_a_default_open_calendar() {
        let c = parse_calendar(ICS).unwrap();
        let t = |s: &str| ical_time(s).unwrap();
        assert_eq!(c.events.len(), 2);
        assert!(c.open_at(t("20300101T095959Z")));
        assert!(!c.open_at(t("20300101T100000Z")));
        assert!(c.open_at(t("20300101T120000Z")));
        assert!(!c.open_at(t("20300105T230000Z")));
        assert_eq!(
            c.next_transition(t("20300101T110000Z")),
            Some(t("20300101T120000Z"))
        );
        let closed = parse_calendar(&ICS.replace("DEFAULT_OPEN", "DEFAULT_CLOSED")).unwrap();
        assert!(!closed.open_at(t("20300101T090000Z")));
        assert!(closed.open_at(t("20300101T110000Z")));
        assert_eq!(parse_calendar("not a calendar"), None);
    }

    #[test]
    fn dates_are_days_since_the_epoch() {
        assert_eq!(ical_time("19700101"), Some(0));
        assert_eq!(ical_time("20000301T000001Z"), Some(951_868_801_000));
        assert_eq!(ical_time("2000130"), None);
        assert_eq!(ical_time("20001301"), None);
    }
}
