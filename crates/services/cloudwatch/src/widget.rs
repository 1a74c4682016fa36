//! GetMetricWidgetImage: the widget's metrics read from the store and drawn as a line chart in
//! a PNG (white background, axes, one coloured line per metric, in AWS's default palette). The
//! chart has no text (no title, labels or legend: there is no font renderer here).

use std::io::Cursor;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::metrics::{MetricId, buckets};
use crate::stats::Agg;
use crate::*;

const PALETTE: [[u8; 3]; 10] = [
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
    [0xbc, 0xbd, 0x22],
    [0x17, 0xbe, 0xcf],
];
/// The largest image drawn (AWS's limit is 2000 × 2000).
const MAX_SIDE: u32 = 2000;
/// Points per series at most.
const MAX_POINTS: u64 = 1440;

/// An ISO 8601 duration (`-PT3H`, `P1D`, `-P7DT12H30M`) in ms, signed.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s = s.strip_prefix('P')?;
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut total: i64 = 0;
    let mut take = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                let (_, ms) = units.iter().find(|(u, _)| *u == c)?;
                let n: i64 = num.parse().ok()?;
                total = total.checked_add(n.checked_mul(*ms)?)?;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    take(date, &[('W', 604_800_000), ('D', 86_400_000)])?;
    if let Some(t) = time {
        take(t, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    }
    Some(if neg { -total } else { total })
}

/// A widget time: a relative duration from now or an absolute ISO 8601 time.
fn widget_time(v: Option<&Value>, now: u64, default: i64) -> Result<u64, AwsError> {
    let Some(s) = v.and_then(Value::as_str) else {
        return Ok((now as i64 + default).max(0) as u64);
    };
    if let Some(d) = parse_duration(s) {
        return Ok((now as i64 + d).max(0) as u64);
    }
    snapstack_protocol::codec::time::parse_iso8601(s)
        .map(|t| t.max(0) as u64)
        .ok_or_else(|| invalid_value(format!("The time {s} in the MetricWidget is not valid.")))
}

struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        Canvas {
            w,
            h,
            px: vec![255; (w * h * 3) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 {
            return;
        }
        let i = ((y as u32 * self.w + x as u32) * 3) as usize;
        self.px[i..i + 3].copy_from_slice(&c);
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, c);
            self.set(x, y + 1, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn png(&self) -> Result<Vec<u8>, String> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut e = png::Encoder::new(&mut buf, self.w, self.h);
            e.set_color(png::ColorType::Rgb);
            e.set_depth(png::BitDepth::Eight);
            let mut w = e.write_header().map_err(|e| e.to_string())?;
            w.write_image_data(&self.px).map_err(|e| e.to_string())?;
        }
        Ok(buf.into_inner())
    }
}

/// A widget's metric: namespace, name, sorted dimensions, options.
type WidgetMetric = (String, String, Vec<(String, String)>, Value);

/// The metrics of a widget: rows `[ns, name, dim, value, ..., {options}]`, `"."` repeating the
/// row above.
fn widget_metrics(w: &Value) -> Result<Vec<WidgetMetric>, AwsError> {
    let rows = w["metrics"]
        .as_array()
        .ok_or_else(|| invalid_value("The MetricWidget must have metrics."))?;
    let mut prev: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for row in rows.iter().take(100) {
        let items = row
            .as_array()
            .ok_or_else(|| invalid_value("Each metric of the MetricWidget must be a list."))?;
        let opts = items
            .last()
            .filter(|x| x.is_object())
            .cloned()
            .unwrap_or(json!({}));
        let mut parts: Vec<String> = Vec::new();
        for (i, x) in items.iter().filter_map(Value::as_str).enumerate() {
            let s = if x == "." {
                prev.get(i).cloned().unwrap_or_default()
            } else {
                x.to_string()
            };
            parts.push(s);
        }
        if opts.get("expression").is_some() {
            continue;
        }
        if parts.len() < 2 || !parts.len().is_multiple_of(2) {
            return Err(invalid_value(
                "A metric of the MetricWidget must be [namespace, name, (dimension name, value)...].",
            ));
        }
        let mut dims: Vec<(String, String)> = parts[2..]
            .chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect();
        dims.sort();
        out.push((parts[0].clone(), parts[1].clone(), dims, opts));
        prev = parts;
    }
    Ok(out)
}

fn parse_color(c: &str) -> Option<[u8; 3]> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let b = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some([b(0)?, b(2)?, b(4)?])
}

impl CloudWatch {
    pub(crate) fn get_metric_widget_image(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let fmt = str_of(v, "OutputFormat").unwrap_or("png");
        if fmt != "png" && fmt != "image/png" {
            return Err(invalid_value(format!(
                "The OutputFormat {fmt} is not supported; use png."
            )));
        }
        let w: Value =
            serde_json::from_str(str_of(v, "MetricWidget").ok_or_else(|| missing("MetricWidget"))?)
                .map_err(|_| invalid_value("The MetricWidget is not valid JSON."))?;
        let now = self.now_ms();
        let start = widget_time(w.get("start"), now, -3 * 3_600_000)?;
        let end = widget_time(w.get("end"), now, 0)?;
        if end <= start {
            return Err(invalid_value(
                "The start of the MetricWidget must be before its end.",
            ));
        }
        let width = w["width"].as_u64().unwrap_or(600).clamp(1, MAX_SIDE as u64) as u32;
        let height = w["height"]
            .as_u64()
            .unwrap_or(395)
            .clamp(1, MAX_SIDE as u64) as u32;
        let mut period = w["period"].as_u64().unwrap_or(300).max(1) * 1000;
        period = period.max((end - start) / MAX_POINTS);
        let default_stat = w["stat"].as_str().unwrap_or("Average");
        let snap = self.store.snapshot();
        let mut series = Vec::new();
        for (ns, name, dims, opts) in widget_metrics(&w)? {
            let stat = opts["stat"].as_str().unwrap_or(default_stat);
            let per = opts["period"]
                .as_u64()
                .map(|s| (s * 1000).max(period))
                .unwrap_or(period);
            let id = MetricId {
                ns: &ns,
                name: &name,
                dims: &dims,
            };
            let pts: Vec<(u64, f64)> = buckets(&snap, p, &id, start, end, per, None)
                .into_iter()
                .filter_map(|(t, points)| Some((t, Agg::of(points)?.stat(stat)?)))
                .filter(|(_, x)| x.is_finite())
                .collect();
            series.push((pts, opts["color"].as_str().and_then(parse_color)));
        }
        let mut c = Canvas::new(width, height);
        let (left, right, top, bottom) = (40i64, width as i64 - 10, 10i64, height as i64 - 25);
        let axis = [0x55, 0x55, 0x55];
        if right > left && bottom > top {
            c.line((left, top), (left, bottom), axis);
            c.line((left, bottom), (right, bottom), axis);
            let values = series.iter().flat_map(|(s, _)| s.iter().map(|(_, y)| *y));
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
                (a.min(y), b.max(y))
            });
            let (lo, hi) = if lo.is_finite() {
                (
                    lo.min(0.0),
                    if hi > lo.min(0.0) {
                        hi
                    } else {
                        lo.min(0.0) + 1.0
                    },
                )
            } else {
                (0.0, 1.0)
            };
            let span = (end - start) as f64;
            let to_xy = |t: u64, y: f64| {
                let x = left + ((t - start) as f64 / span * (right - left) as f64) as i64;
                let yy = bottom - ((y - lo) / (hi - lo) * (bottom - top) as f64) as i64;
                (x, yy)
            };
            for (i, (pts, color)) in series.iter().enumerate() {
                let col = color.unwrap_or(PALETTE[i % PALETTE.len()]);
                for pair in pts.windows(2) {
                    c.line(
                        to_xy(pair[0].0, pair[0].1),
                        to_xy(pair[1].0, pair[1].1),
                        col,
                    );
                }
                if let [(t, y)] = pts[..] {
                    let (x, yy) = to_xy(t, y);
                    c.line((x - 2, yy), (x + 2, yy), col);
                }
            }
        }
        let png = c
            .png()
            .map_err(|e| AwsError::internal("InternalServiceFault", e))?;
        out(
            json!({ "MetricWidgetImage": base64::engine::general_purpose::STANDARD.encode(png) }),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("-PT3H"), Some(-3 * 3_600_000));
        assert_eq!(parse_duration("P0D"), Some(0));
        assert_eq!(parse_duration("-P1DT30M"), Some(-(86_400_000 + 1_800_000)));
        assert_eq!(parse_duration("PT"), Some(0));
        assert_eq!(parse_duration("3H"), None);
        assert_eq!(parse_duration("-PTxH"), None);
    }

    #[test]
    fn widget_rows_repeat_with_dots() {
        let w = json!({"metrics": [["NS", "A", "D", "1"], [".", "B", ".", "2", {"stat": "Sum"}]]});
        let m = widget_metrics(&w).unwrap();
        assert_eq!(m[1].0, "NS");
        assert_eq!(m[1].2, vec![("D".to_string(), "2".to_string())]);
        assert!(widget_metrics(&json!({"metrics": [["NS"]]})).is_err());
    }
}
