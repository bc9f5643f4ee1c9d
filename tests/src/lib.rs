//! Helpers shared by Strata's cross-crate tests (the tests themselves are in `tests/tests/`).
