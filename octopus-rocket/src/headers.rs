//! Rocket's header maps seen by the core.

use std::borrow::Cow;

use octopus_core::{HeaderSink, HeaderSource};
use rocket::http::{Header, HeaderMap};

/// A rocket [`HeaderMap`] as the core's [`HeaderSource`], or a rocket response as its
/// [`HeaderSink`].
#[derive(Debug)]
pub struct RocketHeaders<T>(pub T);

impl HeaderSource for RocketHeaders<&HeaderMap<'_>> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get_one(name)
    }

    fn header_values<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        // Rocket keeps header values as text: every one is usable.
        for value in self.0.get(name) {
            visit(Some(value));
        }
    }

    fn header_names(&self) -> Vec<&str> {
        // Rocket hands out names borrowed from the map; an owned one cannot outlive the
        // iterator's item, and rocket never stores request header names owned.
        self.0
            .iter()
            .filter_map(|header| match header.name.into_cow() {
                Cow::Borrowed(name) => Some(name),
                Cow::Owned(_) => None,
            })
            .collect()
    }

    fn any_header_name(&self, predicate: &dyn Fn(&str) -> bool) -> bool {
        self.0.iter().any(|header| predicate(header.name.as_str()))
    }
}

impl HeaderSink for RocketHeaders<&mut rocket::Response<'_>> {
    fn set_header(&mut self, name: &str, value: String) {
        self.0.set_header(Header::new(name.to_owned(), value));
    }
}
