//! The B3 multi-header extractor (`b3multi`: `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`, `x-b3-flags`).
//!
//! Input: one header per line, `name: value`; a line without `:` is a `x-b3-traceid` value.
//! Checks: see `octopus_fuzz::check_headers`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use octopus_core::HeaderCodec;
use octopus_fuzz::{Checks, check_headers, codec, header_lines};

static CODEC: LazyLock<HeaderCodec> = LazyLock::new(|| codec("b3multi"));

fuzz_target!(|data: &[u8]| {
    let headers = header_lines(data, "x-b3-traceid");
    check_headers(&CODEC, &headers, Checks::default());
});
