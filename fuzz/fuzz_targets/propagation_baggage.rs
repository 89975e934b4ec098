//! The W3C baggage extractor (`baggage`): never more than 64 entries or 8 192 bytes.
//!
//! Input: one header per line, `name: value`; a line without `:` is a `baggage` value.
//! Checks: see `octopus_fuzz::check_headers`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use octopus_core::HeaderCodec;
use octopus_fuzz::{Checks, check_headers, codec, header_lines};

static CODEC: LazyLock<HeaderCodec> = LazyLock::new(|| codec("baggage"));

fuzz_target!(|data: &[u8]| {
    let headers = header_lines(data, "baggage");
    check_headers(&CODEC, &headers, Checks::default());
});
