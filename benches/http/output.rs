//! Results: rows, tables and the plot (part of `benches/http.rs`).

use std::path::Path;

use hdrhistogram::Histogram;

use crate::knobs::size_label;
use crate::png_out;
use crate::{BUCKET_MS, PhaseOut};

#[derive(serde::Serialize)]
pub(crate) struct Row {
    target: String,
    entries: u64,
    snapshots: bool,
    ops: u64,
    ops_per_sec: f64,
    errors: u64,
    reconnects: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    write_p99_us: u64,
    read_p99_us: u64,
    snapshot_count: usize,
    snapshot_median_ms: f64,
    snapshot_max_ms: f64,
    snapshot_bytes_median: u64,
    peak_rss_mib: u64,
    /// The 10 ms buckets' maximum latency (µs), for the plot.
    #[serde(skip)]
    series: Vec<u64>,
    #[serde(skip)]
    windows: Vec<(u64, u64)>,
}

pub(crate) fn hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram")
}

pub(crate) fn row(target: &str, entries: u64, snapshots: bool, out: PhaseOut) -> Row {
    let (mut all, mut w, mut r) = (hist(), hist(), hist());
    let buckets = (out.elapsed.as_millis() as u64 / BUCKET_MS + 1) as usize;
    let mut series = vec![0u64; buckets];
    for s in &out.samples {
        let _ = all.record(s.lat_us);
        let _ = if s.write { &mut w } else { &mut r }.record(s.lat_us);
        let b = ((s.start_us / 1000 / BUCKET_MS) as usize).min(buckets - 1);
        series[b] = series[b].max(s.lat_us);
    }
    let mut durs: Vec<u64> = out.windows.iter().map(|(a, b)| b - a).collect();
    durs.sort_unstable();
    let mut bytes = out.snap_bytes.clone();
    bytes.sort_unstable();
    Row {
        target: target.to_string(),
        entries,
        snapshots,
        ops: all.len(),
        ops_per_sec: all.len() as f64 / out.elapsed.as_secs_f64(),
        errors: out.errors,
        reconnects: out.reconnects,
        p50_us: all.value_at_quantile(0.5),
        p99_us: all.value_at_quantile(0.99),
        p999_us: all.value_at_quantile(0.999),
        max_us: all.max(),
        write_p99_us: w.value_at_quantile(0.99),
        read_p99_us: r.value_at_quantile(0.99),
        snapshot_count: durs.len(),
        snapshot_median_ms: durs.get(durs.len() / 2).copied().unwrap_or(0) as f64 / 1000.0,
        snapshot_max_ms: durs.last().copied().unwrap_or(0) as f64 / 1000.0,
        snapshot_bytes_median: bytes.get(bytes.len() / 2).copied().unwrap_or(0),
        peak_rss_mib: out.peak_rss_kib / 1024,
        series,
        windows: out.windows,
    }
}

pub(crate) fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn print_rows(rows: &[Row]) {
    println!(
        "\n| target | entries | snapshots | ops/s | p50 | p99 | p99.9 | max | write p99 | read p99 | snapshots taken, median (max) duration | bytes / snapshot | errors | reconnects |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.target,
            size_label(r.entries),
            if r.snapshots { "on" } else { "off" },
            r.ops_per_sec,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            ms(r.max_us),
            ms(r.write_p99_us),
            ms(r.read_p99_us),
            if r.snapshot_count > 0 {
                format!(
                    "{}, {:.0} ms ({:.0} ms)",
                    r.snapshot_count, r.snapshot_median_ms, r.snapshot_max_ms
                )
            } else {
                "—".into()
            },
            if r.snapshot_count > 0 {
                format!("{:.1} MiB", r.snapshot_bytes_median as f64 / 1048576.0)
            } else {
                "—".into()
            },
            r.errors,
            r.reconnects,
        );
    }
    // Ratios: on / off for each in-process target.
    println!("\n| target | p99 on/off | max on/off | ops/s on/off |\n|---|---|---|---|");
    for on in rows.iter().filter(|r| r.snapshots) {
        if let Some(off) = rows
            .iter()
            .find(|r| !r.snapshots && r.target == on.target && r.entries == on.entries)
        {
            println!(
                "| {} | {:.2}× | {:.2}× | {:.2}× |",
                on.target,
                on.p99_us as f64 / off.p99_us.max(1) as f64,
                on.max_us as f64 / off.max_us.max(1) as f64,
                on.ops_per_sec / off.ops_per_sec.max(1e-9),
            );
        }
    }
    let cow = rows.iter().find(|r| r.snapshots && r.target == "cow");
    let lock = rows.iter().find(|r| r.snapshots && r.target == "locking");
    if let (Some(c), Some(l)) = (cow, lock) {
        println!(
            "\nmax latency with snapshots, locking / cow: {:.1}×",
            l.max_us as f64 / c.max_us.max(1) as f64
        );
    }
}

pub(crate) fn plot(rows: &[Row], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let picked: Vec<&Row> = rows
        .iter()
        .filter(|r| r.snapshots && (r.target == "cow" || r.target == "locking"))
        .collect();
    if picked.is_empty() {
        return Ok(());
    }
    png_out::register_font()?;
    let (w, h) = (1200u32, 350 * picked.len() as u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((picked.len(), 1));
        for (area, r) in areas.iter().zip(&picked) {
            let secs = r.series.len() as f64 * BUCKET_MS as f64 / 1000.0;
            let top = (r.series.iter().copied().max().unwrap_or(1) as f64 / 1000.0).max(1.0) * 2.0;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{} via HTTP, {} entries: max latency per 10 ms (snapshots shaded)",
                        r.target,
                        size_label(r.entries)
                    ),
                    ("sans-serif", 18),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..secs, (0.01f64..top).log_scale())
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("seconds")
                .y_desc("ms")
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(r.windows.iter().map(|(a, b)| {
                    Rectangle::new(
                        [(*a as f64 / 1e6, 0.01), (*b as f64 / 1e6, top)],
                        RGBColor(255, 200, 120).mix(0.4).filled(),
                    )
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    r.series
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0)
                        .map(|(i, v)| {
                            (
                                i as f64 * BUCKET_MS as f64 / 1000.0,
                                (*v as f64 / 1000.0).max(0.01),
                            )
                        }),
                    &BLUE,
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    png_out::write_png(path, &buf, w, h)
}
