//! Output: Markdown tables, the plot, the machine description (part of `benches/latency.rs`).

use std::path::Path;

use crate::knobs::size_label;
use crate::png_out;
use crate::{BUCKET_MS, ChildResult, Phase};

pub(crate) fn fmt_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(crate) fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 * 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

pub(crate) fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "–".into()
    } else {
        format!("{:.2}×", a as f64 / b as f64)
    }
}

pub(crate) fn print_tables(results: &[ChildResult]) {
    println!(
        "\n### Request latency, all requests (reads and writes)\n\n\
         | engine | entries | snapshots | ops/s | p50 | p99 | p99.9 | max | peak RSS | \
         snapshots taken | snapshot median | bytes written | load (1 min) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        for p in [&r.quiet, &r.snap] {
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {}→{} |",
                r.label,
                size_label(r.entries),
                if p.snapshots { "on" } else { "off" },
                p.ops_per_sec,
                fmt_ns(p.all.p50_ns),
                fmt_ns(p.all.p99_ns),
                fmt_ns(p.all.p999_ns),
                fmt_ns(p.all.max_ns),
                fmt_bytes(p.peak_rss),
                if p.snapshots {
                    p.windows.len().to_string()
                } else {
                    "–".into()
                },
                p.snapshot_median_ms()
                    .map_or("–".into(), |ms| fmt_ns((ms * 1e6) as u64)),
                if p.snapshots {
                    fmt_bytes(p.bytes_written())
                } else {
                    "–".into()
                },
                r.loadavg_start.split(' ').next().unwrap_or("?"),
                r.loadavg_end.split(' ').next().unwrap_or("?"),
            );
        }
    }

    println!(
        "\n### Snapshots on against off, and inside against outside the snapshot windows\n\n\
         \"in windows\": requests of the run with snapshots on whose time (from the intended \
         start, when paced) overlapped a snapshot in progress.\n\n\
         | engine | entries | p99 off | p99 on | p99 on/off | p99 in windows / outside | \
         max off | max on | max on/off | max in windows | max outside windows |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let (q, s) = (&r.quiet, &r.snap);
        println!(
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            r.label,
            size_label(r.entries),
            fmt_ns(q.all.p99_ns),
            fmt_ns(s.all.p99_ns),
            ratio(s.all.p99_ns, q.all.p99_ns),
            fmt_ns(s.in_snapshot.p99_ns),
            fmt_ns(s.outside_snapshot.p99_ns),
            fmt_ns(q.all.max_ns),
            fmt_ns(s.all.max_ns),
            ratio(s.all.max_ns, q.all.max_ns),
            fmt_ns(s.in_snapshot.max_ns),
            fmt_ns(s.outside_snapshot.max_ns),
        );
    }

    let mut sizes: Vec<u64> = results.iter().map(|r| r.entries).collect();
    sizes.dedup();
    println!(
        "\n### Locking baseline against snapstack, max latency with snapshots on\n\n\
         | entries | locking max | snapstack variant | its max | locking max / its max |\n\
         |---|---|---|---|---|"
    );
    for n in &sizes {
        let Some(lock) = results
            .iter()
            .find(|r| r.entries == *n && r.engine == "locking")
        else {
            continue;
        };
        for r in results
            .iter()
            .filter(|r| r.entries == *n && r.engine != "locking")
        {
            println!(
                "| {} | {} | {} | {} | {} |",
                size_label(*n),
                fmt_ns(lock.snap.all.max_ns),
                r.label,
                fmt_ns(r.snap.all.max_ns),
                ratio(lock.snap.all.max_ns, r.snap.all.max_ns)
            );
        }
    }

    println!(
        "\n### Memory: one snapshot held while the writer(s) keep writing\n\n\
         Held for as long as that engine's median snapshot took. Heap: bytes allocated minus \
         freed (exact, counted by the allocator); RSS: sampled every 5 ms.\n\n\
         | engine | entries | state (logical) | state heap | held for | writes meanwhile | \
         peak extra heap | % of state heap | peak extra RSS |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        if let Some(h) = &r.hold {
            println!(
                "| {} | {} | {} | {} | {:.0} ms | {} | {} | {:.1} % | {} |",
                r.label,
                size_label(r.entries),
                fmt_bytes(r.logical_bytes),
                fmt_bytes(r.state_heap.max(0) as u64),
                h.hold_ms,
                h.writes,
                fmt_bytes(h.peak_extra_heap.max(0) as u64),
                h.pct_of_state_heap,
                fmt_bytes(h.peak_extra_rss),
            );
        }
    }
    println!(
        "\nPeak RSS with snapshots on minus the RSS before that run (every engine; for the \
         locking baseline this is its serialization buffer):\n\n\
         | engine | entries | state RSS | peak extra RSS, snapshots on | % of state RSS |\n\
         |---|---|---|---|---|"
    );
    for r in results {
        let extra = r.snap.peak_rss.saturating_sub(r.snap.rss_before);
        println!(
            "| {} | {} | {} | {} | {:.1} % |",
            r.label,
            size_label(r.entries),
            fmt_bytes(r.state_rss),
            fmt_bytes(extra),
            extra as f64 / r.state_rss.max(1) as f64 * 100.0
        );
    }

    println!(
        "\n### A flush with nothing changed\n\n\
         | engine | entries | `Engine::save` | `Engine::save_urgent` | bytes written |\n\
         |---|---|---|---|---|"
    );
    for r in results {
        if let Some(u) = &r.unchanged {
            match u.full_save_ms {
                None => println!(
                    "| {} | {} | {:.1} µs | {:.1} µs | {} |",
                    r.label,
                    size_label(r.entries),
                    u.save_us.unwrap_or(f64::NAN),
                    u.save_urgent_us.unwrap_or(f64::NAN),
                    u.bytes
                ),
                Some(ms) => println!(
                    "| {} | {} | full save, {:.1} ms (no change tracking) | – | {} |",
                    r.label,
                    size_label(r.entries),
                    ms,
                    fmt_bytes(u.bytes)
                ),
            }
        }
    }
}

pub(crate) fn plot(results: &[ChildResult], n: u64, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let rows: Vec<&ChildResult> = results.iter().filter(|r| r.entries == n).collect();
    if rows.is_empty() {
        return Ok(());
    }
    png_out::register_font()?;

    let (w, h) = (1400u32, 330 * rows.len() as u32 + 40);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title, body) = root.split_vertically(40);
        title
            .titled(
                &format!(
                    "Request latency over time, {} entries: max per 10 ms (log scale); \
                     shaded = snapshot in progress",
                    size_label(n)
                ),
                ("sans-serif", 22),
            )
            .map_err(|e| e.to_string())?;
        let panels = body.split_evenly((rows.len(), 1));
        let ymax = rows
            .iter()
            .flat_map(|r| [r.quiet.all.max_ns, r.snap.all.max_ns])
            .max()
            .unwrap_or(1) as f64
            / 1e3
            * 2.0;
        let xmax = rows
            .iter()
            .map(|r| r.snap.secs.max(r.quiet.secs))
            .fold(1.0, f64::max)
            + 0.5;
        for (r, area) in rows.iter().zip(panels.iter()) {
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{}: max {} with snapshots, {} without",
                        r.label,
                        fmt_ns(r.snap.all.max_ns),
                        fmt_ns(r.quiet.all.max_ns)
                    ),
                    ("sans-serif", 18),
                )
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..xmax, (1f64..ymax).log_scale())
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("seconds into the run")
                .y_desc("latency")
                .y_label_formatter(&|v| fmt_ns((*v * 1e3).round() as u64))
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
            let shade = RGBColor(255, 170, 60).mix(0.35).filled();
            chart
                .draw_series(r.snap.windows.iter().map(|wd| {
                    Rectangle::new([(wd.start_ms / 1e3, 1.0), (wd.end_ms / 1e3, ymax)], shade)
                }))
                .map_err(|e| e.to_string())?
                .label("snapshot in progress")
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], shade));
            // One line per run of consecutive non-empty buckets: an empty bucket (no request
            // finished, e.g. all blocked) breaks the line instead of bridging it.
            let segments = |p: &Phase| -> Vec<Vec<(f64, f64)>> {
                let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for (i, v) in p.series_max_ns.iter().enumerate() {
                    let last = out.last_mut().expect("non-empty");
                    if *v == 0 {
                        if !last.is_empty() {
                            out.push(Vec::new());
                        }
                        continue;
                    }
                    last.push(((i as u64 * BUCKET_MS) as f64 / 1e3, *v as f64 / 1e3));
                }
                out.retain(|s| !s.is_empty());
                out
            };
            let grey = RGBColor(150, 150, 150);
            for (i, seg) in segments(&r.quiet).into_iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(seg, grey.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
                if i == 0 {
                    drawn
                        .label("no snapshots (reference run)")
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], grey));
                }
            }
            for (i, seg) in segments(&r.snap).into_iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(seg, BLUE.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
                if i == 0 {
                    drawn
                        .label("snapshots on")
                        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    png_out::write_png(path, &buf, w, h)
}

pub(crate) fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "mem_total_bytes": mem_kb * 1024,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "loadavg": read("/proc/loadavg").trim(),
    })
}
