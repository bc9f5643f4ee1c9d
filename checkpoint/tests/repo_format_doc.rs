//! Guards `docs/format/repository.md` against drift: its worked example is framed here and
//! compared byte for byte, and its tables name every kind and limit the code uses.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use std::path::Path;
use strata_checkpoint::repo::format::{
    FORMAT_VERSION, HEADER_LEN_MAX, KIND_BUNDLE, KIND_COMMIT, KIND_LAST_CHECKPOINT, KIND_LOG_CHECKPOINT,
    KIND_REPOSITORY, LastCheckpoint, MAGIC, frame, unframe,
};

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format/repository.md"));

fn example() -> &'static str {
    let start = DOC.find("<!-- example-begin -->").unwrap();
    let end = DOC.find("<!-- example-end -->").unwrap();
    let block = &DOC[start..end];
    let open = block.find("```\n").unwrap() + 4;
    let close = block.rfind("\n```").unwrap();
    &block[open..close]
}

#[test]
fn worked_example_matches_the_encoder() {
    let hint = LastCheckpoint { version: 10, size: 2, size_in_bytes: 1234, checksum: 0xdead_beef };
    let bytes = frame(KIND_LAST_CHECKPOINT, &hint).unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), example(), "docs/format/repository.md drifted");
    let back: LastCheckpoint = unframe(KIND_LAST_CHECKPOINT, example().as_bytes(), Path::new("doc")).unwrap();
    assert_eq!(back, hint);
}

#[test]
fn document_names_every_kind_and_limit() {
    for kind in [KIND_REPOSITORY, KIND_COMMIT, KIND_LOG_CHECKPOINT, KIND_LAST_CHECKPOINT, KIND_BUNDLE] {
        assert!(DOC.contains(&format!("| `{kind}` |")), "kind {kind} not documented");
    }
    assert!(DOC.contains(&format!("`{MAGIC}`")));
    assert!(DOC.contains(&format!("`HEADER_LEN_MAX` ({HEADER_LEN_MAX})")));
    assert!(DOC.contains(&format!("`{FORMAT_VERSION}` (`FORMAT_VERSION`)")));
}
