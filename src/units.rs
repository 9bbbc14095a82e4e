//! Byte counts in binary units and grouped numbers, as every form of every
//! page shows them.

/// `3725` → `1 h 2 min`; `200000` → `2 d 7 h`.
pub(crate) fn duration_text(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `1536` → `1.50 KiB`. Binary units, since page sizes and size classes are
/// powers of two.
pub(crate) fn human_bytes(bytes: u64) -> String {
    human_bytes_f64(bytes as f64)
}

/// As [`human_bytes`], signed: `+1.50 KiB`, `-512 B`.
pub(crate) fn human_bytes_signed(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(bytes.unsigned_abs()))
}

pub(crate) fn human_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// `1.20 MiB ± 0.30`: an estimate and its half-width (three standard errors), both in the
/// unit of the larger; the estimate alone when the error is nil.
pub(crate) fn human_bytes_with_error(bytes: f64, error: f64) -> String {
    with_error(bytes, error, "")
}

/// As [`human_bytes_with_error`], signed: `+1.20 MiB ± 0.30`.
pub(crate) fn human_bytes_signed_with_error(bytes: f64, error: f64) -> String {
    with_error(bytes, error, if bytes < 0.0 { "-" } else { "+" })
}

fn with_error(bytes: f64, error: f64, sign: &str) -> String {
    if error < 0.5 {
        return format!("{sign}{}", human_bytes_f64(bytes.abs()));
    }
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let larger = bytes.abs().max(error);
    let mut unit = 0;
    while larger / 1024f64.powi(unit as i32) >= 1024.0 && unit < UNITS.len() - 1 {
        unit += 1;
    }
    let scale = 1024f64.powi(unit as i32);
    if unit == 0 {
        format!("{sign}{:.0} B ± {error:.0}", bytes.abs())
    } else {
        format!(
            "{sign}{:.2} {} ± {:.2}",
            bytes.abs() / scale,
            UNITS[unit],
            error / scale
        )
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// As [`grouped`], signed.
pub(crate) fn grouped_signed(number: i64) -> String {
    let sign = if number < 0 { "-" } else { "+" };
    format!("{sign}{}", grouped(number.unsigned_abs()))
}

/// `1 arena`, `8 arenas`, `2,000 tasks`: a count with its noun, plural
/// where it is not one.
pub(crate) fn count_of(count: u64, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        grouped(count),
        if count == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_counts() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(100 * 1024 * 1024), "100.00 MiB");
        assert_eq!(human_bytes_signed(-512), "-512 B");
        assert_eq!(grouped_signed(-1000), "-1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
        assert_eq!(
            human_bytes_with_error(1.2 * 1048576.0, 0.3 * 1048576.0),
            "1.20 MiB ± 0.30"
        );
        assert_eq!(human_bytes_signed_with_error(-2048.0, 0.0), "-2.00 KiB");
        assert_eq!(human_bytes_signed_with_error(900.0, 100.0), "+900 B ± 100");
        assert_eq!(
            human_bytes_signed_with_error(0.0, 42535.0),
            "+0.00 KiB ± 41.54"
        );
    }
}
