//! Byte sizes for people: `512GiB`, `24 GiB`, `16g` in, `70.1 GiB` out.

use thiserror::Error;

/// 1024 bytes.
pub const KIB: u64 = 1024;
/// 1024 KiB.
pub const MIB: u64 = 1024 * KIB;
/// 1024 MiB.
pub const GIB: u64 = 1024 * MIB;

/// A size that could not be parsed ([`parse_size`]).
#[derive(Debug, Error, PartialEq)]
#[error("`{0}` is not a size; write e.g. `512GiB`, `64G` or `2048MiB`")]
pub struct SizeError(
    /// What is wrong with the size.
    pub String,
);

/// Parse `512GiB`, `512G`, `512gb`, `2048MiB`, `1.5T` or a plain byte count.
/// Decimal and binary suffixes are both read as binary (GiB), as people mean them
/// for RAM.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| SizeError(text.to_string()))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => 1024 * GIB,
        _ => return Err(SizeError(text.to_string())),
    };
    let bytes = (value * mult as f64).round();
    // 2^64 and above do not fit: `as u64` would quietly saturate.
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(SizeError(text.to_string()));
    }
    Ok(bytes as u64)
}

/// `70.1 GiB`, `512 MiB`, `3 KiB`.
pub fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= GIB {
        format!("{:.1} GiB", b / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.0} MiB", b / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.0} KiB", b / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// `23m 40s`, `51s`, `1h 02m`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("512GiB").unwrap(), 512 * GIB);
        assert_eq!(parse_size("24 GiB").unwrap(), 24 * GIB);
        assert_eq!(parse_size("16g").unwrap(), 16 * GIB);
        assert_eq!(parse_size("1.5T").unwrap(), 1536 * GIB);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }

    /// Regression (issue 16, defect 5): `99999999999TiB` became 2^64 bytes.
    #[test]
    fn sizes_that_do_not_fit_are_errors() {
        assert!(parse_size("99999999999TiB").is_err());
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("16777216TiB").is_err());
        assert_eq!(parse_size("16777215TiB").unwrap(), 16_777_215 * 1024 * GIB);
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(70 * GIB + GIB / 10), "70.1 GiB");
        assert_eq!(format_duration(1420.0), "23m 40s");
        assert_eq!(format_duration(3720.0), "1h 02m");
    }
}
