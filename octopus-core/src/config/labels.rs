//! Labels of the user's own on the request metrics: [`LabelConfig`] (a label whose value comes
//! from a request header, or from a function given in code), the constant labels, their
//! limits, and the `OCTOPUS_LABELS` syntax.
//!
//! Every label whose value comes from the request is bounded: by a declared set of values
//! (anything else is [`OTHER_LABEL_VALUE`]), or by a cap on distinct values
//! ([`DEFAULT_LABEL_MAX_VALUES`] unless set), past which new values are counted as
//! [`OTHER_LABEL_VALUE`] too.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The most labels of the user's own (besides the constant ones) on the request metrics.
/// Each one multiplies the number of series; a handful is already a lot.
pub const MAX_LABELS: usize = 4;

/// The cap on distinct values of a label without declared values, unless its
/// [`max_values`](LabelConfig::max_values) says otherwise.
pub const DEFAULT_LABEL_MAX_VALUES: usize = 100;

/// The highest [`max_values`](LabelConfig::max_values) accepted.
pub const MAX_LABEL_MAX_VALUES: usize = 10_000;

/// The value that stands for every value not admitted: not among the declared values, past
/// the cap, or longer than [`MAX_LABEL_VALUE_LEN`].
pub const OTHER_LABEL_VALUE: &str = "_other";

/// The longest label value admitted, bytes; a longer one (a header stuffed with junk) is
/// counted as [`OTHER_LABEL_VALUE`] without taking a place under the cap.
pub const MAX_LABEL_VALUE_LEN: usize = 128;

/// The labels Octopus's own metric families use: a label of the user's (constant or not)
/// cannot take one of these names.
pub const RESERVED_LABEL_NAMES: [&str; 6] = [
    "service_name",
    "http_request_method",
    "http_response_status_code",
    "http_route",
    "le",
    "quantile",
];

/// One label of the user's own on `http_server_requests_total`,
/// `http_server_request_duration_seconds` and `http_server_active_requests`, whose value comes
/// from each request.
///
/// In a configuration file its value comes from a request header ([`header`](Self::header));
/// in code it may come from a function of the request instead
/// ([`OctopusBuilder::label`](crate::OctopusBuilder::label)). A request without the header
/// (or for which the function gives `None`) gets [`default`](Self::default) (empty unless set:
/// Prometheus then stores the series without the label).
///
/// Values are bounded: with [`values`](Self::values) declared, any other value is
/// [`OTHER_LABEL_VALUE`]; without, the first [`max_values`](Self::max_values) distinct values
/// seen are kept and later ones are counted as [`OTHER_LABEL_VALUE`], said once on stderr and
/// counted in `octopus_label_overflow_total{label="<name>"}`.
///
/// ```toml
/// [[labels]]
/// name = "tenant"
/// header = "x-tenant"
/// max_values = 50
///
/// [[labels]]
/// name = "plan"
/// header = "x-plan"
/// values = ["free", "pro", "enterprise"]
/// default = "none"
/// ```
///
/// ```
/// use octopus_core::config::LabelConfig;
///
/// let tenant = LabelConfig::header("tenant", "x-tenant").max_values(50);
/// let plan = LabelConfig::header("plan", "x-plan")
///     .values(["free", "pro", "enterprise"])
///     .default_value("none");
/// assert_eq!(plan.values, ["free", "pro", "enterprise"]);
/// # let _ = tenant;
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelConfig {
    /// The label name: a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with
    /// `__`), none of [`RESERVED_LABEL_NAMES`].
    pub name: String,
    /// The request header whose (first) value is the label's value. Required in files and the
    /// environment; `None` for a label whose value a function gives
    /// ([`OctopusBuilder::label_with`](crate::OctopusBuilder::label_with)).
    pub header: Option<String>,
    /// The values admitted; any other is [`OTHER_LABEL_VALUE`]. Empty: the first
    /// [`max_values`](Self::max_values) distinct values seen are admitted.
    pub values: Vec<String>,
    /// Without declared values, how many distinct values are admitted (1 to
    /// [`MAX_LABEL_MAX_VALUES`], default [`DEFAULT_LABEL_MAX_VALUES`]). Not counting the
    /// default value nor [`OTHER_LABEL_VALUE`].
    pub max_values: usize,
    /// The value of requests without the header (or for which the function gives `None`).
    pub default: String,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            name: String::new(),
            header: None,
            values: Vec::new(),
            max_values: DEFAULT_LABEL_MAX_VALUES,
            default: String::new(),
        }
    }
}

impl LabelConfig {
    /// A label named `name` whose value is the request header `header`, with the default cap.
    pub fn header(name: impl Into<String>, header: impl Into<String>) -> Self {
        LabelConfig {
            name: name.into(),
            header: Some(header.into()),
            ..LabelConfig::default()
        }
    }

    /// A label named `name` whose value a function gives (see
    /// [`OctopusBuilder::label_with`](crate::OctopusBuilder::label_with)), with the default
    /// cap.
    pub fn named(name: impl Into<String>) -> Self {
        LabelConfig {
            name: name.into(),
            ..LabelConfig::default()
        }
    }

    /// Declares the values admitted; any other is [`OTHER_LABEL_VALUE`].
    pub fn values<I>(mut self, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.values = values.into_iter().map(Into::into).collect();
        self
    }

    /// The cap on distinct values (without declared values).
    pub fn max_values(mut self, max_values: usize) -> Self {
        self.max_values = max_values;
        self
    }

    /// The value of requests without one.
    pub fn default_value(mut self, value: impl Into<String>) -> Self {
        self.default = value.into();
        self
    }
}

/// Whether `name` is a label name Prometheus accepts for a user: `[a-zA-Z_][a-zA-Z0-9_]*`, not
/// starting with `__` (reserved for Prometheus's internal labels).
pub(super) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// What `OCTOPUS_LABELS` accepts, for its errors.
pub(super) const LABELS_ENV_EXPECTED: &str = "comma-separated labels \
     name=header:<header name>, each optionally followed by ;values=<v1>|<v2>|..., \
     ;max_values=<number>, ;default=<value> (values percent-encoded)";

/// Reads `OCTOPUS_LABELS`: `tenant=header:x-tenant;max_values=50,plan=header:x-plan;values=free|pro`.
/// Empty (or only blanks) is no labels. Values (in `values` and `default`) are percent-decoded,
/// so `,`, `;`, `|` and `%` can be spelled `%2C`, `%3B`, `%7C`, `%25`. A malformed label is an
/// error naming it; the names and values are checked afterwards, by validation.
pub(super) fn parse_labels_env(field: &str, text: &str) -> Result<Vec<LabelConfig>, ConfigError> {
    let mut labels = Vec::new();
    for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        labels.push(
            parse_label(member)
                .ok_or_else(|| ConfigError::invalid(field, member, LABELS_ENV_EXPECTED))?,
        );
    }
    Ok(labels)
}

fn parse_label(member: &str) -> Option<LabelConfig> {
    let mut parts = member.split(';').map(str::trim);
    let (name, source) = parts.next()?.split_once('=')?;
    let header = source.trim().strip_prefix("header:")?.trim();
    let name = name.trim();
    if name.is_empty() || header.is_empty() {
        return None;
    }
    let mut label = LabelConfig::header(name, header);
    let decode = |value: &str| {
        percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .ok()
            .map(|value| value.into_owned())
    };
    for option in parts {
        let (key, value) = option.split_once('=')?;
        match key.trim() {
            "values" => {
                label.values = value.split('|').map(decode).collect::<Option<_>>()?;
            }
            "max_values" => label.max_values = value.trim().parse().ok()?,
            "default" => label.default = decode(value)?,
            _ => return None,
        }
    }
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_prometheus() {
        for good in ["tenant", "_x", "a1_b", "Client"] {
            assert!(is_label_name(good), "{good}");
        }
        for bad in ["", "1a", "a-b", "__x", "tenant id", "é"] {
            assert!(!is_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_environment_syntax() {
        let labels = parse_labels_env(
            "OCTOPUS_LABELS",
            " tenant=header:X-Tenant ; max_values=50 , plan=header:x-plan;values=free|pro%7Cplus;default=none%2C",
        )
        .unwrap();
        assert_eq!(
            labels,
            [
                LabelConfig::header("tenant", "X-Tenant").max_values(50),
                LabelConfig::header("plan", "x-plan")
                    .values(["free", "pro|plus"])
                    .default_value("none,"),
            ]
        );
        assert!(parse_labels_env("OCTOPUS_LABELS", " ").unwrap().is_empty());
        for bad in [
            "tenant",
            "tenant=x-tenant",
            "tenant=header:",
            "=header:x",
            "tenant=header:x;max_values=many",
            "tenant=header:x;colour=blue",
            "tenant=header:x;values",
        ] {
            let error = parse_labels_env("OCTOPUS_LABELS", bad).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("OCTOPUS_LABELS: invalid value \"{bad}\"; expected {LABELS_ENV_EXPECTED}")
            );
        }
    }
}
