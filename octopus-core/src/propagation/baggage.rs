//! W3C Baggage (`baggage`), sent as one header or as several.
//!
//! W3C Baggage allows a `baggage` header to be split over several lines, which mean one list
//! joined with commas in order. The SDK's `BaggagePropagator` parses the list well but reads
//! only the first line, so this propagator joins the lines and hands it the whole list. The
//! joined list is capped like a single header: over 8 192 bytes it is ignored.

use std::borrow::Cow;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::BaggagePropagator as SdkBaggagePropagator;

use super::MAX_BAGGAGE_LEN;

const BAGGAGE: &str = "baggage";

/// The W3C Baggage propagator (`baggage` in `OTEL_PROPAGATORS`): the SDK's, reading every
/// `baggage` line.
///
/// Several `baggage` lines are one list, joined with commas in order (a key repeated later
/// wins). The joined list is capped like one header: over 8 192 bytes it is ignored whole.
///
/// ```
/// use octopus_core::propagation::BaggagePropagator;
/// use octopus_core::opentelemetry::baggage::BaggageExt;
/// use octopus_core::opentelemetry::propagation::TextMapPropagator;
/// use std::collections::HashMap;
///
/// let headers = HashMap::from([("baggage".to_string(), "tenant=acme,plan=gold".to_string())]);
/// let context = BaggagePropagator::new().extract(&headers);
/// assert_eq!(context.baggage().get("plan").map(|v| v.as_str().to_string()), Some("gold".into()));
/// ```
#[derive(Debug, Default)]
pub struct BaggagePropagator {
    sdk: SdkBaggagePropagator,
}

impl BaggagePropagator {
    /// The propagator.
    pub fn new() -> Self {
        BaggagePropagator::default()
    }
}

/// One header, as the SDK's propagator reads it.
struct OneHeader<'a>(&'a str);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == BAGGAGE).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![BAGGAGE]
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, context: &Context, injector: &mut dyn Injector) {
        self.sdk.inject_context(context, injector);
    }

    fn extract_with_context(&self, context: &Context, extractor: &dyn Extractor) -> Context {
        let Some(lines) = extractor.get_all(BAGGAGE) else {
            return context.clone();
        };
        // One line, the usual case, is passed on as it is: no copy.
        let list = match lines.as_slice() {
            [line] => Cow::Borrowed(*line),
            lines => Cow::Owned(lines.join(",")),
        };
        if list.len() > MAX_BAGGAGE_LEN {
            return context.clone();
        }
        self.sdk
            .extract_with_context(context, &OneHeader(list.as_ref()))
    }

    fn fields(&self) -> FieldIter<'_> {
        self.sdk.fields()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::baggage::BaggageExt;

    use super::*;

    /// An extractor holding one name several times, as an HTTP request can.
    struct Lines(Vec<String>);

    impl Lines {
        fn of(lines: &[&str]) -> Self {
            Lines(lines.iter().map(|line| line.to_string()).collect())
        }
    }

    impl Extractor for Lines {
        fn get(&self, key: &str) -> Option<&str> {
            self.get_all(key)?.first().copied()
        }

        fn keys(&self) -> Vec<&str> {
            vec![BAGGAGE]
        }

        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            (key == BAGGAGE && !self.0.is_empty())
                .then(|| self.0.iter().map(String::as_str).collect())
        }
    }

    fn entries(context: &Context) -> Vec<(String, String)> {
        let mut entries: Vec<_> = context
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn every_line_is_read_in_order() {
        let context = BaggagePropagator::new().extract(&Lines::of(&["a=1,b=2", "c=3", "b=4"]));
        assert_eq!(
            entries(&context),
            [
                ("a".into(), "1".into()),
                ("b".into(), "4".into()),
                ("c".into(), "3".into())
            ]
        );
    }

    #[test]
    fn lines_over_the_cap_together_are_ignored() {
        let half = format!("k={}", "v".repeat(MAX_BAGGAGE_LEN / 2));
        let context = BaggagePropagator::new().extract(&Lines::of(&[&half, "x=1"]));
        assert_eq!(entries(&context).len(), 2);
        let context = BaggagePropagator::new().extract(&Lines::of(&[&half, &half]));
        assert!(entries(&context).is_empty());
    }
}
