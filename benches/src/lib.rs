//! Shared helpers for Strata's benchmarks.
