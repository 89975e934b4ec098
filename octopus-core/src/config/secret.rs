//! [`Secret`]: a configuration value that is never printed nor serialised.

use std::fmt;

use serde::Deserialize;

/// A value that must never be printed: a token, an API key, a header value.
///
/// `Debug` shows `"<redacted>"`, and it has no `Serialize`: the fields holding one are skipped
/// when a configuration is serialised. Deserialises from a plain string.
///
/// ```
/// use octopus_core::config::Secret;
///
/// let key = Secret::from("s3cret");
/// assert_eq!(format!("{key:?}"), r#""<redacted>""#);
/// assert_eq!(key.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it (a header, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.into())
    }
}
