//! Money as an exact decimal with two places, from the database to the tools' answers.
//!
//! Prices and totals are `numeric` columns. The Data API returns a DECIMAL as a string unless
//! asked otherwise ("The value of STRING, the default, specifies that it is converted to a
//! String value ... We recommend converting to String, especially when working with currency
//! values":
//! <https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_ResultSetOptions.html>),
//! and takes one back as a string with the `DECIMAL` type hint
//! (<https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_SqlParameter.html>).
//! So an amount is never a binary float on its way: [`Money`] parses that text into a
//! [`Decimal`], and the tools answer with the same text (`"1299.99"`), a JSON string, because a
//! JSON number would become a binary float again in most readers (the agent's own model
//! adapter included).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places of every amount: the columns are `numeric(_, 2)`.
pub const SCALE: u32 = 2;

/// The published form of an amount; [`Money`]'s `Display` always matches it.
pub const PATTERN: &str = r"^-?[0-9]+\.[0-9]{2}$";

/// An exact amount of money with [`SCALE`] decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(Decimal);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an amount of money with at most {SCALE} decimal places")]
pub struct InvalidMoney {
    text: String,
}

impl Money {
    /// A fixture's amount, written there as a JSON number. Its shortest decimal form (what
    /// `serde_json` prints) is exactly the number as written for up to 15 significant digits,
    /// far more than the columns hold, and is refused if it has more than two places.
    pub fn from_json_number(number: &serde_json::Number) -> Result<Self, InvalidMoney> {
        number.to_string().parse()
    }
}

impl FromStr for Money {
    type Err = InvalidMoney;

    fn from_str(text: &str) -> Result<Self, InvalidMoney> {
        let invalid = || InvalidMoney {
            text: text.to_owned(),
        };
        // Plain decimal notation only: no exponent, no spaces, no sign but a leading minus.
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && fraction.is_empty());
        if !plain || fraction.len() > SCALE as usize {
            return Err(invalid());
        }
        let mut value = Decimal::from_str_exact(text).map_err(|_| invalid())?;
        // At most SCALE places were given, so this only pads with zeros.
        value.rescale(SCALE);
        Ok(Self(value))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The scale is always SCALE, so this prints exactly two places.
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// From the Data API's text form of a DECIMAL.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Money {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "An exact amount with two decimal places, as text, e.g. \"1299.99\".",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Money {
        text.parse().expect("an amount")
    }

    #[test]
    fn amounts_read_back_as_written_and_add_up_exactly() {
        let sum = money("0.10").0 + money("0.20").0;
        assert_eq!(sum, money("0.30").0);
        for text in [
            "0.00",
            "0.30",
            "1299.99",
            "2399.00",
            "-5.25",
            "9999999999.99",
        ] {
            assert_eq!(money(text).to_string(), text);
        }
    }

    #[test]
    fn fewer_places_are_padded_to_two() {
        assert_eq!(money("2399").to_string(), "2399.00");
        assert_eq!(money("19.9").to_string(), "19.90");
    }

    #[test]
    fn texts_that_are_not_plain_amounts_are_refused() {
        for text in [
            "", "-", ".5", "5.", "1.234", "1e3", " 1.00", "1.00 ", "+1.00", "1,00", "NaN", "0x10",
        ] {
            assert!(text.parse::<Money>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn fixture_numbers_are_read_exactly_and_float_noise_is_refused() {
        let numbers: Vec<serde_json::Number> =
            serde_json::from_str("[1299.99, 2399.00, 0.1, 49.99, 5]").expect("numbers");
        let read: Vec<String> = numbers
            .iter()
            .map(|n| Money::from_json_number(n).expect("an amount").to_string())
            .collect();
        assert_eq!(read, ["1299.99", "2399.00", "0.10", "49.99", "5.00"]);
        let float_sum = serde_json::Number::from_f64(0.1 + 0.2).expect("finite");
        assert!(Money::from_json_number(&float_sum).is_err(), "{float_sum}");
    }

    #[test]
    fn the_json_form_is_the_exact_text_and_matches_the_published_pattern() {
        let value = serde_json::to_value(money("1299.99")).expect("serializable");
        assert_eq!(value, serde_json::json!("1299.99"));
        let back: Money = serde_json::from_value(value).expect("readable");
        assert_eq!(back, money("1299.99"));
        let schema = serde_json::to_value(schemars::schema_for!(Money)).expect("a schema");
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        for text in ["0.00", "1299.99", "-5.25", "2399"] {
            let printed = serde_json::to_value(money(text)).expect("serializable");
            assert!(validator.is_valid(&printed), "{printed}");
        }
        assert!(!validator.is_valid(&serde_json::json!(1299.99)));
    }
}
