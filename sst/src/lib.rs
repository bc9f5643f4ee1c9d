//! Strata's table (SST) format. Under construction: see issue 2.
