//! `OctopusConfig` from TOML text (the `toml` crate, as the workspace uses it).
//!
//! Checks: no panic; `OctopusConfig::from_toml_str` agrees with `toml::from_str`; an error has a non-empty message; a parsed config is validated and, when
//! valid, builds an `Octopus` (traces exporter forced to `none`); a parsed config written back
//! as TOML (when the writer accepts it) reads back equal, secrets apart (never written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use octopus_core::OctopusConfig;
use octopus_fuzz::{check_config, same_config, without_secrets};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The crate's own entry point (what `OctopusConfig::from_file` uses) and the parser
    // itself agree, and its one-line error is never empty.
    let own = OctopusConfig::from_toml_str(text);
    let direct = toml::from_str::<OctopusConfig>(text);
    match (&own, &direct) {
        (Ok(a), Ok(b)) => assert!(
            same_config(a, b),
            "from_toml_str and toml::from_str disagree"
        ),
        (Err(message), Err(_)) => assert!(!message.trim().is_empty(), "from_toml_str: empty error"),
        _ => panic!("from_toml_str and toml::from_str disagree: {own:?} / {direct:?}"),
    }
    match direct {
        Ok(config) => {
            check_config(&config);
            if let Ok(written) = toml::to_string(&config) {
                let back: OctopusConfig = toml::from_str(&written)
                    .unwrap_or_else(|e| panic!("written TOML does not read back: {e}\n{written}"));
                assert!(
                    same_config(&without_secrets(&config), &back),
                    "TOML round trip changed the config:\n{written}"
                );
            }
        }
        Err(error) => assert!(
            !error.to_string().trim().is_empty(),
            "empty TOML error: {error:?}"
        ),
    }
});
