//! Strata, the engine. Under construction: see issue 5.
