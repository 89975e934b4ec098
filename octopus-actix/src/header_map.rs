//! actix-web's header map (its own type, over `http` 0.2 names) seen by the core.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use octopus_core::{HeaderSink, HeaderSource};

/// An actix-web [`HeaderMap`] as the core's [`HeaderSource`] and [`HeaderSink`].
#[derive(Debug)]
pub struct ActixHeaders<T>(pub T);

impl HeaderSource for ActixHeaders<&HeaderMap> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        for value in self.0.get_all(name) {
            visit(value.to_str().ok());
        }
    }

    fn header_names(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.0.keys().any(|name| predicate(name.as_str()))
    }
}

impl HeaderSink for ActixHeaders<&mut HeaderMap> {
    /// Names and values that are not valid in a header are skipped: they cannot be sent.
    fn set_header(&mut self, name: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}
