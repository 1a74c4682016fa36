//! GetRandomPassword: every option, from the operating system's generator without modulo bias.

use serde_json::{Value, json};

use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::{flag, int, invalid_parameter, ok, random_bytes, s};

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// A uniformly random index below `n` (rejection sampling over random bytes).
fn below(n: usize) -> usize {
    debug_assert!(n > 0 && n <= 256);
    let limit = 256 - 256 % n;
    loop {
        for b in random_bytes(16) {
            if (b as usize) < limit {
                return b as usize % n;
            }
        }
    }
}

/// The password the options ask for.
pub(crate) fn generate(v: &Value) -> Result<String, AwsError> {
    let length = int(v, "PasswordLength").unwrap_or(32);
    if !(1..=4096).contains(&length) {
        return Err(invalid_parameter(
            "Password length must be between 1 and 4096 characters.",
        ));
    }
    let length = length as usize;
    let exclude: Vec<char> = s(v, "ExcludeCharacters").unwrap_or("").chars().collect();
    let mut groups: Vec<Vec<char>> = Vec::new();
    let mut add = |set: &str, excluded: bool| {
        if !excluded {
            let g: Vec<char> = set.chars().filter(|c| !exclude.contains(c)).collect();
            if !g.is_empty() {
                groups.push(g);
            }
        }
    };
    add(LOWER, flag(v, "ExcludeLowercase").unwrap_or(false));
    add(UPPER, flag(v, "ExcludeUppercase").unwrap_or(false));
    add(DIGITS, flag(v, "ExcludeNumbers").unwrap_or(false));
    add(PUNCTUATION, flag(v, "ExcludePunctuation").unwrap_or(false));
    add(" ", !flag(v, "IncludeSpace").unwrap_or(false));
    if groups.is_empty() {
        return Err(invalid_parameter(
            "The password can't be generated: every character type is excluded.",
        ));
    }
    let require = flag(v, "RequireEachIncludedType").unwrap_or(true);
    if require && length < groups.len() {
        return Err(invalid_parameter(format!(
            "The password length is too short to include every required character type: it must be at least {}.",
            groups.len()
        )));
    }
    let all: Vec<char> = groups.iter().flatten().copied().collect();
    let mut out: Vec<char> = Vec::with_capacity(length);
    if require {
        for g in &groups {
            out.push(g[below(g.len())]);
        }
    }
    while out.len() < length {
        out.push(all[below_large(all.len())]);
    }
    // Shuffle (Fisher–Yates) so the required characters are not at the start.
    for i in (1..out.len()).rev() {
        let j = below_large(i + 1);
        out.swap(i, j);
    }
    Ok(out.into_iter().collect())
}

/// A uniformly random index below `n`, for any `n` up to 2^32.
fn below_large(n: usize) -> usize {
    if n <= 256 {
        return below(n);
    }
    let n = n as u64;
    let limit = u32::MAX as u64 + 1 - (u32::MAX as u64 + 1) % n;
    loop {
        let b = random_bytes(4);
        let x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
        if x < limit {
            return (x % n) as usize;
        }
    }
}

pub(crate) fn get_random_password(v: &Value) -> Result<Output, AwsError> {
    ok(json!({"RandomPassword": generate(v)?}), None)
}
