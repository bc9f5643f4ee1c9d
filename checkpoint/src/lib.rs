//! Strata checkpoints. Under construction: see issue 6.
