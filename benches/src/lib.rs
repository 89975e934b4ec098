//! Criterion benchmarks of Octopus: run `cargo bench -p octopus-benches`.
//!
//! The package holds only benchmark targets (`benches/`); this library target is empty.
