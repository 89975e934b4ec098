//! [`ConfigError`]: what every configuration path returns for a value it cannot use.

use std::fmt;

use super::MetricKind;

/// A configuration value that cannot be used. The message names the field (or environment
/// variable), the value and what is accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A metric name that is not one of the collectors.
    #[error(
        "{field}: unknown metric \"{value}\"; expected one of {}",
        MetricKind::choices()
    )]
    UnknownMetric {
        /// The field or environment variable.
        field: String,
        /// The name given.
        value: String,
    },
    /// Any other invalid value.
    #[error("{field}: invalid value \"{value}\"; expected {expected}")]
    InvalidValue {
        /// The field or environment variable.
        field: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A configuration file that cannot be read or parsed (unknown keys included: the reason
    /// names them).
    #[error("{path}: {reason}")]
    File {
        /// The file, as given.
        path: String,
        /// What went wrong, with the line where the parser knows it.
        reason: String,
    },
    /// The metrics could not be registered (a name already taken in a registry passed in).
    #[error("metrics registry: cannot register {metric}: {reason}")]
    Registration {
        /// The metric name.
        metric: String,
        /// What the registry said.
        reason: String,
    },
}

impl ConfigError {
    pub(super) fn invalid(field: &str, value: impl fmt::Display, expected: &str) -> Self {
        ConfigError::InvalidValue {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The same error, attributed to another field name (an environment variable, say).
    pub(super) fn in_field(self, name: &str) -> Self {
        match self {
            ConfigError::UnknownMetric { value, .. } => ConfigError::UnknownMetric {
                field: name.into(),
                value,
            },
            ConfigError::InvalidValue {
                value, expected, ..
            } => ConfigError::InvalidValue {
                field: name.into(),
                value,
                expected,
            },
            other => other,
        }
    }
}
