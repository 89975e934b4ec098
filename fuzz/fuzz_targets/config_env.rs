//! `OctopusConfig::apply_env` with an arbitrary set of `OTEL_*` / `OCTOPUS_*` variables.
//!
//! Input: one variable per line, `NAME=value` (see `octopus_fuzz::env_lines`).
//! Checks: no panic; `apply_env` asks only for the documented variables (`ENV_VARS`); an error's
//! message is non-empty and starts with the name of a variable that was set (`NAME: ...`); on
//! success the config is validated and, when valid, builds an `Octopus` (traces exporter forced
//! to `none`); applying the same environment again is idempotent.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use octopus_core::OctopusConfig;
use octopus_fuzz::{ENV_VARS, assert_error_message, check_config, env_lines, same_config};

fuzz_target!(|data: &[u8]| {
    let vars = env_lines(data);
    let asked = RefCell::new(Vec::new());
    let lookup = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        vars.iter()
            .find(|(v, _)| *v == name)
            .map(|(_, value)| value.clone())
    };
    let mut config = OctopusConfig::default();
    let result = config.apply_env(lookup);
    for name in asked.borrow().iter() {
        assert!(
            ENV_VARS.contains(&name.as_str()),
            "apply_env read the undocumented {name}"
        );
    }
    match result {
        Ok(()) => {
            check_config(&config);
            let mut again = config.clone();
            again
                .apply_env(lookup)
                .expect("the same environment applied twice");
            // OTEL_EXPORTER_OTLP_ENDPOINT over HTTP appends /v1/traces to the value itself,
            // not to the field, so applying twice is idempotent too.
            assert!(same_config(&config, &again), "apply_env is not idempotent");
        }
        Err(error) => {
            let message = assert_error_message(&error);
            assert!(
                vars.iter()
                    .any(|(v, _)| message.starts_with(&format!("{v}: "))),
                "the error does not name a variable that was set: {message:?} (set: {:?})",
                vars.iter().map(|(v, _)| *v).collect::<Vec<_>>()
            );
        }
    }
});
