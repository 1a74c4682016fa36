//! The environment knobs of the benchmarks (`latency`, `http`, `s3`, `sqs`, `dynamodb`): typed variables with
//! defaults, and state sizes written as `10k` / `1M`. Included by path; benchmarks only.

// Each bench uses the part it needs.
#![allow(dead_code)]

/// `name` parsed as `T`, or `default` when unset. A value that does not parse stops the run.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} does not parse")),
        Err(_) => default,
    }
}

/// `10k` → 10,000; `1M` → 1,000,000; a plain number as it is.
pub fn parse_size(s: &str) -> u64 {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = if let Some(n) = s.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = s.strip_suffix('k') {
        (n, 1_000)
    } else {
        (s.as_str(), 1)
    };
    num.parse::<u64>()
        .unwrap_or_else(|_| panic!("bad size {s:?}"))
        * mul
}

/// The inverse of [`parse_size`] for round numbers: 1000000 → `1M`.
pub fn size_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}
