//! Go's duration syntax (`30s`, `1m`, `500ms`, `1h30m`, `1.5h`), which kube-proxy's flags and
//! configuration file use. Negative durations are rejected: no kproxy setting wants one.

use std::time::Duration;

/// Parses a Go duration: `0`, or one or more `<decimal><unit>` with units `ns`, `us`
/// (`µs`), `ms`, `s`, `m`, `h`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err(format!("{s:?} is negative"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err("empty duration (expected e.g. 30s, 1m, 500ms, 1h30m)".into());
    }
    let mut rest = body;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (int, frac, after) = number(rest).ok_or_else(|| invalid(s))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let nanos_per_unit = unit(&after[..unit_len]).ok_or_else(|| {
            if unit_len == 0 {
                format!("{s:?} is missing a unit (ns, us, ms, s, m or h)")
            } else {
                format!("{s:?} has unknown unit {:?}", &after[..unit_len])
            }
        })?;
        total = int
            .checked_mul(nanos_per_unit)
            .and_then(|t| t.checked_add(fraction(frac, nanos_per_unit)))
            .and_then(|t| t.checked_add(total))
            .ok_or_else(|| format!("{s:?} is too long"))?;
        rest = &after[unit_len..];
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| format!("{s:?} is too long"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Formats like Go's `Duration.String()` for the common cases: `1h30m0s`, `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        let ns = d.subsec_nanos();
        return match ns {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}us", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = match d.subsec_nanos() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}{frac}s"));
    out
}

fn invalid(s: &str) -> String {
    format!("{s:?} is not a duration (expected e.g. 30s, 1m, 500ms, 1h30m)")
}

/// Splits a leading `123.456` into its integer value, fraction digits and the remainder.
fn number(s: &str) -> Option<(u128, &str, &str)> {
    let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int_digits, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            r.split_at(n)
        }
        None => ("", rest),
    };
    if int_digits.is_empty() && frac.is_empty() {
        return None;
    }
    let int = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().ok()?
    };
    Some((int, frac, rest))
}

/// `0.<frac>` units in nanoseconds, truncated; digits past nanosecond precision are dropped.
fn fraction(frac: &str, nanos_per_unit: u128) -> u128 {
    let digits = &frac[..frac.len().min(18)];
    if digits.is_empty() {
        return 0;
    }
    let value: u128 = digits.parse().unwrap_or(0);
    value * nanos_per_unit / 10u128.pow(digits.len() as u32)
}

fn unit(u: &str) -> Option<u128> {
    Some(match u {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = Duration::from_millis;
        for (s, want) in [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("30s", ms(30_000)),
            ("1m", ms(60_000)),
            ("500ms", ms(500)),
            ("1h30m", ms(5_400_000)),
            ("2h45m0s", ms(9_900_000)),
            ("1.5h", ms(5_400_000)),
            (".5s", ms(500)),
            ("+1s", ms(1000)),
            ("1500us", ms(1) + Duration::from_micros(500)),
            ("1µs", Duration::from_micros(1)),
            ("7ns", Duration::from_nanos(7)),
        ] {
            assert_eq!(parse(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        for (s, needle) in [
            ("", "empty"),
            ("30", "missing a unit"),
            ("-1s", "negative"),
            ("5d", "unknown unit \"d\""),
            ("abc", "not a duration"),
            ("1.s.", "not a duration"),
            ("99999999999999999999h", "too long"),
        ] {
            let err = parse(s).expect_err(s);
            assert!(err.contains(needle), "{s}: {err}");
        }
    }

    #[test]
    fn formats_like_go() {
        for s in ["0s", "500ms", "30s", "1m0s", "1h30m0s", "1.5s", "250us"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
