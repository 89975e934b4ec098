//! `OctopusConfig` from YAML text (`serde_norway`, as the workspace uses it).
//!
//! Checks: no panic; `OctopusConfig::from_yaml_str` agrees with `serde_norway::from_str`; an error has a non-empty message; a parsed config is validated and, when
//! valid, builds an `Octopus` (traces exporter forced to `none`); a parsed config written back
//! as YAML reads back equal, secrets apart (never written).
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
    let own = OctopusConfig::from_yaml_str(text);
    let direct = serde_norway::from_str::<OctopusConfig>(text);
    match (&own, &direct) {
        (Ok(a), Ok(b)) => assert!(
            same_config(a, b),
            "from_yaml_str and serde_norway::from_str disagree"
        ),
        (Err(message), Err(_)) => assert!(!message.trim().is_empty(), "from_yaml_str: empty error"),
        _ => panic!("from_yaml_str and serde_norway::from_str disagree: {own:?} / {direct:?}"),
    }
    match direct {
        Ok(config) => {
            check_config(&config);
            if let Ok(written) = serde_norway::to_string(&config) {
                let back: OctopusConfig = serde_norway::from_str(&written)
                    .unwrap_or_else(|e| panic!("written YAML does not read back: {e}\n{written}"));
                assert!(
                    same_config(&without_secrets(&config), &back),
                    "YAML round trip changed the config:\n{written}"
                );
            }
        }
        Err(error) => assert!(
            !error.to_string().trim().is_empty(),
            "empty YAML error: {error:?}"
        ),
    }
});
