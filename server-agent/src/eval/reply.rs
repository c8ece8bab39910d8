//! A command's result as the JSON of its reply, without building more than the reply
//! limit allows: a result is measured as JSON text, into nothing, before it is
//! converted (converting first could take far more memory than the limit).
//!
//! Never from here: keeping the measured text, or converting a result that is over.

use rhai::Dynamic;

use crate::budget;
pub(super) use crate::state::bounded::json_size_within;

/// The result as JSON, or why it cannot be a reply.
pub(super) fn to_reply_json(
    value: &Dynamic,
    max_reply_bytes: usize,
) -> Result<serde_json::Value, String> {
    budget::charge(budget::weigh(value)).map_err(|exceeded| exceeded.to_string())?;
    let Some(written) = json_size_within(value, max_reply_bytes) else {
        return Err(format!(
            "the result is over the {max_reply_bytes} byte reply limit; select less (e.g. a slice or a few keys)"
        ));
    };
    budget::charge(written).map_err(|exceeded| exceeded.to_string())?;
    Ok(to_json(value))
}

/// The value as JSON; values JSON cannot hold (function pointers...) become text.
pub(super) fn to_json(value: &Dynamic) -> serde_json::Value {
    rhai::serde::from_dynamic::<serde_json::Value>(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_over_the_reply_limit_is_refused_before_conversion() {
        let big = Dynamic::from("x".repeat(1000));
        assert!(to_reply_json(&big, 100)
            .unwrap_err()
            .contains("reply limit"));
        assert_eq!(
            to_reply_json(&Dynamic::from(7_i64), 100),
            Ok(serde_json::json!(7))
        );
    }
}
