//! Strata's manifest. Under construction: see issue 4.
