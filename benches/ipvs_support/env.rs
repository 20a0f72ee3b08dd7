//! Bench settings from the environment, so that a quick run needs no code change.

#![allow(dead_code)] // each bench uses its own subset

/// `KPROXY_BENCH_SIZES=1000,5k,10k`: the service counts to run, or `default`.
pub fn sizes(default: &[usize]) -> Vec<usize> {
    match std::env::var("KPROXY_BENCH_SIZES") {
        Ok(text) if !text.trim().is_empty() => text
            .split(',')
            .map(|s| {
                parse_count(s).unwrap_or_else(|| {
                    panic!("KPROXY_BENCH_SIZES: {s:?} is not a count (e.g. 1000 or 10k)")
                })
            })
            .collect(),
        _ => default.to_vec(),
    }
}

/// `10000` or `10k`.
pub fn parse_count(text: &str) -> Option<usize> {
    let text = text.trim().to_ascii_lowercase();
    match text.strip_suffix('k') {
        Some(digits) => digits.parse::<usize>().ok().map(|n| n * 1_000),
        None => text.parse().ok(),
    }
}

/// A count from `var`, or `default`.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_count(&v).unwrap_or_else(|| panic!("{var}: {v:?} is not a count")))
        .unwrap_or(default)
}

/// Whether `var` is set to something other than `0`, or `default` when unset.
pub fn flag(var: &str, default: bool) -> bool {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim() != "0",
        _ => default,
    }
}
