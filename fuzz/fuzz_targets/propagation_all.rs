//! Every format at once, in one codec (the last valid format wins): the interactions between extractors.
//!
//! Input: one header per line, `name: value`; a line without `:` is a `traceparent` value.
//! Checks: see `octopus_fuzz::check_headers`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use octopus_core::HeaderCodec;
use octopus_fuzz::{Checks, check_headers, codec, header_lines};

static CODEC: LazyLock<HeaderCodec> =
    LazyLock::new(|| codec("tracecontext,baggage,jaeger,b3,b3multi"));

fuzz_target!(|data: &[u8]| {
    let headers = header_lines(data, "traceparent");
    // Every format together: the trace state must survive the later formats (see README.md).
    check_headers(&CODEC, &headers, Checks::default());
});
