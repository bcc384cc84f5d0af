//! Numbers from outside (flags, data files, request bodies) parsed into types that state
//! their domain, so that NaN, infinities, out-of-range values and overflows are refused
//! where they enter, with the value named, instead of reaching a formula.
//!
//! Each type parses from text (`FromStr`, so clap names the flag in its error), checks an
//! `f64` (`new`), and deserializes through the same check. A real number may be written
//! as a percentage where a type says so ([`parse_real`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a value is outside its domain; displays as "`TEXT` is not DOMAIN".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {domain}")]
pub struct DomainError {
    pub value: String,
    pub domain: &'static str,
}

/// The largest count an `f64` holds exactly (2⁵³): counts enter sums and variances as
/// `f64`, so a larger one would be rounded without a word.
pub const MAX_EXACT_COUNT: u64 = 1 << 53;

/// A real number from text: a decimal or exponent form, or a percentage (`2%` = 0.02).
/// Infinities and NaN are refused, whatever their spelling.
pub fn parse_real(text: &str) -> Result<f64, DomainError> {
    let err = || DomainError {
        value: text.to_owned(),
        domain: "a finite number",
    };
    let t = text.trim();
    // Divided, not multiplied by 0.01: 95% is then exactly the double nearest 0.95.
    let (num, divisor) = match t.strip_suffix('%') {
        Some(n) => (n.trim_end(), 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| err())?;
    let v = v / divisor;
    if v.is_finite() { Ok(v) } else { Err(err()) }
}

macro_rules! real_domain {
    ($(#[$doc:meta])* $name:ident, $domain:literal, |$v:ident| $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            pub const DOMAIN: &'static str = $domain;

            pub fn new($v: f64) -> Result<Self, DomainError> {
                if $v.is_finite() && $ok {
                    Ok($name($v))
                } else {
                    Err(DomainError {
                        value: $v.to_string(),
                        domain: $domain,
                    })
                }
            }

            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = DomainError;
            fn try_from(v: f64) -> Result<Self, DomainError> {
                $name::new(v)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(text: &str) -> Result<Self, DomainError> {
                let v = parse_real(text).map_err(|e| DomainError {
                    value: e.value,
                    domain: $domain,
                })?;
                $name::new(v).map_err(|e| DomainError {
                    value: text.trim().to_owned(),
                    domain: e.domain,
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

real_domain!(
    /// A probability strictly between 0 and 1 (a level α, a power, a rate, a threshold).
    Probability,
    "a probability strictly between 0 and 1",
    |v| v > 0.0 && v < 1.0
);
real_domain!(
    /// A p-value: from 0 to 1, both included (a test may give exactly 1).
    PValue,
    "a p-value from 0 to 1",
    |v| (0.0..=1.0).contains(&v)
);
real_domain!(
    /// A finite real number greater than 0 (a standard deviation, a sample size, a scale).
    Positive,
    "a finite number greater than 0",
    |v| v > 0.0
);
real_domain!(
    /// A finite real number of at least 0 (a weight).
    NonNegative,
    "a finite number of at least 0",
    |v| v >= 0.0
);
real_domain!(
    /// Any finite real number (a mean, an anchor rating).
    Finite,
    "a finite number",
    |v| { let _ = v; true }
);

/// A count of units, rows or rounds: a whole number from 0 to 2⁵³ ([`MAX_EXACT_COUNT`]).
/// Written as digits or, for data exported as floats, as a whole number in exponent form
/// (`1e6`); never rounded, never saturated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Count(u64);

impl Count {
    pub const DOMAIN: &'static str = "a whole number from 0 to 2^53 (9007199254740992)";

    pub fn new(v: u64) -> Result<Self, DomainError> {
        if v <= MAX_EXACT_COUNT {
            Ok(Count(v))
        } else {
            Err(DomainError {
                value: v.to_string(),
                domain: Count::DOMAIN,
            })
        }
    }

    /// From a float that must already be a whole number in range.
    pub fn from_f64(v: f64) -> Result<Self, DomainError> {
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_EXACT_COUNT as f64 {
            Ok(Count(v as u64))
        } else {
            Err(DomainError {
                value: v.to_string(),
                domain: Count::DOMAIN,
            })
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Count {
    type Error = DomainError;
    fn try_from(v: u64) -> Result<Self, DomainError> {
        Count::new(v)
    }
}

impl From<Count> for u64 {
    fn from(v: Count) -> u64 {
        v.0
    }
}

impl FromStr for Count {
    type Err = DomainError;
    fn from_str(text: &str) -> Result<Self, DomainError> {
        let t = text.trim();
        let err = || DomainError {
            value: t.to_owned(),
            domain: Count::DOMAIN,
        };
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse::<u64>().map_err(|_| err()).and_then(Count::new);
        }
        // `1e6`, `2000.0`: whole numbers a float export writes. Anything a float cannot
        // hold exactly is refused rather than rounded.
        let v: f64 = t.parse().map_err(|_| err())?;
        Count::from_f64(v).map_err(|_| err())
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_refuses_what_is_outside_it() {
        for bad in [
            "nan", "NaN", "inf", "-inf", "infinity", "1e309", "", "x", "0", "1", "-0.1",
        ] {
            assert!(bad.parse::<Probability>().is_err(), "{bad}");
        }
        assert_eq!("0.05".parse::<Probability>().unwrap().get(), 0.05);
        assert_eq!("5%".parse::<Probability>().unwrap().get(), 0.05);
        assert_eq!("95%".parse::<Probability>().unwrap().get(), 0.95);
        for bad in ["0", "-3", "nan", "inf", "1e400"] {
            assert!(bad.parse::<Positive>().is_err(), "{bad}");
        }
        assert!("0".parse::<NonNegative>().is_ok());
        assert!("-0.5".parse::<NonNegative>().is_err());
        assert!("1e308".parse::<Finite>().is_ok());
        let e = "nan".parse::<Probability>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`nan` is not a probability strictly between 0 and 1"
        );
    }

    #[test]
    fn counts_are_whole_exact_and_never_saturated() {
        assert_eq!("1000".parse::<Count>().unwrap().get(), 1000);
        assert_eq!("1e6".parse::<Count>().unwrap().get(), 1_000_000);
        assert_eq!("2000.0".parse::<Count>().unwrap().get(), 2000);
        for bad in [
            "1e20",
            "18446744073709551615",
            "9007199254740993",
            "-100",
            "1.5",
            "nan",
            "inf",
            "",
        ] {
            assert!(bad.parse::<Count>().is_err(), "{bad}");
        }
        assert!(Count::from_f64(2f64.powi(53)).is_ok());
        assert!(Count::from_f64(2f64.powi(53) + 2.0).is_err());
    }

    #[test]
    fn deserializing_checks_the_domain_too() {
        assert!(serde_json::from_str::<Probability>("0.5").is_ok());
        assert!(serde_json::from_str::<Probability>("1.5").is_err());
        assert!(serde_json::from_str::<Count>("18446744073709551615").is_err());
    }
}
