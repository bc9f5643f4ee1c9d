//! Strata's record log format. Under construction: see issue 3.
