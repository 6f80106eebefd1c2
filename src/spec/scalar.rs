//! What a plain scalar means by its looks: YAML 1.2's core schema (10.3.2), used where the
//! platform's schema says nothing about a field, and to type a value where it says integer,
//! number or boolean. And, for writing YAML, whether a YAML 1.1 reader (kubectl's go-yaml,
//! PyYAML) would take a string for something else.

use serde_json::{Number, Value};

/// How the core schema resolves a plain scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Core {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

pub fn resolve(text: &str) -> Core {
    if is_null(text) {
        Core::Null
    } else if bool_value(text).is_some() {
        Core::Bool
    } else if is_int(text) {
        Core::Int
    } else if is_float(text) {
        Core::Float
    } else {
        Core::Str
    }
}

pub fn is_null(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

pub fn bool_value(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn digits(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

/// `[-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+`
pub fn is_int(t: &str) -> bool {
    if let Some(o) = t.strip_prefix("0o") {
        return digits(o, 8);
    }
    if let Some(x) = t.strip_prefix("0x") {
        return digits(x, 16);
    }
    digits(t.strip_prefix(['-', '+']).unwrap_or(t), 10)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`, `.inf`, `.nan`
pub fn is_float(t: &str) -> bool {
    let u = t.strip_prefix(['-', '+']).unwrap_or(t);
    if matches!(u, ".inf" | ".Inf" | ".INF") || matches!(t, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exp) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac, 10),
        Some((int, frac)) => digits(int, 10) && (frac.is_empty() || digits(frac, 10)),
        None => digits(mantissa, 10),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    mantissa_ok && exp_ok
}

/// The integer a core-schema integer stands for; `None` when `t` is not one or does not fit
/// 64 bits.
pub fn int_value(t: &str) -> Option<Number> {
    if !is_int(t) {
        return None;
    }
    let (neg, u) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, ds) = if let Some(o) = u.strip_prefix("0o") {
        (8, o)
    } else if let Some(x) = u.strip_prefix("0x") {
        (16, x)
    } else {
        (10, u)
    };
    let mag = u128::from_str_radix(ds, radix).ok()?;
    if neg {
        i64::try_from(-(i128::try_from(mag).ok()?))
            .ok()
            .map(Number::from)
    } else {
        u64::try_from(mag).ok().map(Number::from)
    }
}

/// The finite number a core-schema float (or an integer too large for 64 bits) stands for.
pub fn float_value(t: &str) -> Option<f64> {
    let radix_prefixed = t.starts_with("0o") || t.starts_with("0x");
    if radix_prefixed || !(is_float(t) || is_int(t)) {
        return None;
    }
    // Rust's parser takes every core-schema float but `.inf`/`.nan`, which JSON cannot hold.
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(f)
}

/// The JSON value of a plain scalar by the core schema. `Err` for what JSON cannot hold
/// (`.inf`, `.nan`).
pub fn core_value(text: &str) -> Result<Value, &'static str> {
    Ok(match resolve(text) {
        Core::Null => Value::Null,
        Core::Bool => Value::Bool(bool_value(text).unwrap_or_default()),
        Core::Int => match int_value(text) {
            Some(n) => Value::Number(n),
            // Beyond 64 bits: as a float, as YAML value parsers do.
            None => float_value(text)
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or("an integer JSON cannot hold")?,
        },
        Core::Float => float_value(text)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or("infinity or not-a-number, which JSON cannot hold")?,
        Core::Str => Value::String(text.to_owned()),
    })
}

/// Whether a YAML 1.1 reader resolves plain `t` to something other than a string: booleans
/// (`yes`, `on`, `y`...), base-60 and `_`-separated numbers, binary, timestamps, `=` and `<<`.
pub fn is_special_in_yaml_1_1(t: &str) -> bool {
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | "=" | "<<"
    ) {
        return true;
    }
    let u = t.strip_prefix(['-', '+']).unwrap_or(t);
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let numberish = u.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && u.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(c, '_' | ':' | '.' | 'x' | 'o' | 'b' | 'e' | 'E' | '-' | '+')
        });
    if numberish && (u.contains('_') || u.contains(':') || u.starts_with("0b") || numeric(u)) {
        return true;
    }
    if matches!(lower.trim_start_matches(['-', '+']), ".inf" | ".nan") {
        return true;
    }
    // Timestamps: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10 -5`.
    let b = t.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_core_schema() {
        for (t, v) in [
            ("", json!(null)),
            ("~", json!(null)),
            ("NULL", json!(null)),
            ("True", json!(true)),
            ("FALSE", json!(false)),
            ("0", json!(0)),
            ("-12", json!(-12)),
            ("+7", json!(7)),
            ("017", json!(17)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("1.20", json!(1.2)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("1.", json!(1.0)),
            ("-1E-2", json!(-0.01)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("99999999999999999999", json!(1e20)),
        ] {
            assert_eq!(core_value(t).unwrap(), v, "{t}");
        }
        // YAML 1.1's booleans, base 60, `_` separators, binary and dates are text in 1.2.
        for t in [
            "yes",
            "on",
            "1_000",
            "1:20",
            "0b101",
            "2001-12-14",
            "0x",
            "1e",
            ".",
            "-",
            "1.2.3",
            "0xG",
            "6232cc84-7aa3",
        ] {
            assert_eq!(core_value(t).unwrap(), json!(t));
        }
        assert!(core_value(".inf").is_err());
        assert!(core_value("-.Inf").is_err());
        assert!(core_value(".nan").is_err());
    }

    #[test]
    fn what_yaml_1_1_reads_as_something_else() {
        for t in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "=",
            "<<",
            "1_000",
            "1:20",
            "190:20:30.15",
            "0b101",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "+1_0",
            ".Inf",
            "-.inf",
            "12",
        ] {
            assert!(is_special_in_yaml_1_1(t), "{t}");
        }
        for t in [
            "yes please",
            "6232cc84-7aa3-4524-b3a8-36cab7203c47",
            "1G",
            "rocksdb",
            "10s",
            "1.9.2-stream1-scala_2.12",
            "s3://b/x",
            "abc_1",
        ] {
            assert!(!is_special_in_yaml_1_1(t), "{t}");
        }
    }
}
