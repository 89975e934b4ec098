//! The B3 single-header extractor (`b3`).
//!
//! Input: one header per line, `name: value`; a line without `:` is a `b3` value.
//! Checks: see `octopus_fuzz::check_headers`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use octopus_core::HeaderCodec;
use octopus_fuzz::{Checks, check_headers, codec, header_lines};

static CODEC: LazyLock<HeaderCodec> = LazyLock::new(|| codec("b3"));

fuzz_target!(|data: &[u8]| {
    let headers = header_lines(data, "b3");
    check_headers(&CODEC, &headers, Checks::default());
});
