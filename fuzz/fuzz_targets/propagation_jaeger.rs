//! The Jaeger extractor (`jaeger`: `uber-trace-id`, `uberctx-*` baggage); its baggage also round-trips exactly.
//!
//! Input: one header per line, `name: value`; a line without `:` is a `uber-trace-id` value.
//! Checks: see `octopus_fuzz::check_headers`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use octopus_core::HeaderCodec;
use octopus_fuzz::{Checks, check_headers, codec, header_lines};

static CODEC: LazyLock<HeaderCodec> = LazyLock::new(|| codec("jaeger"));

fuzz_target!(|data: &[u8]| {
    let headers = header_lines(data, "uber-trace-id");
    check_headers(
        &CODEC,
        &headers,
        Checks {
            baggage_round_trips: true,
            ..Checks::default()
        },
    );
});
