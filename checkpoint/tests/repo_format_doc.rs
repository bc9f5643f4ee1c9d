//! Guards `docs/format/repository.md` against drift: its worked example is framed here and
//! compared byte for byte, and its tables name every kind and limit the code uses.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use std::path::Path;
use strata_checkpoint::repo::format::{
    FORMAT_VERSION, FORMAT_VERSION_MIN, FileRecord, HEADER_LEN_MAX, KIND_BUNDLE, KIND_COMMIT, KIND_LAST_CHECKPOINT,
    KIND_LOG_CHECKPOINT, KIND_REPOSITORY, LastCheckpoint, MAGIC, frame, unframe,
};

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format/repository.md"));

fn example() -> &'static str {
    framed("example")
}

/// The code block between `<!-- <what>-begin -->` and `<!-- <what>-end -->`.
fn framed(what: &str) -> &'static str {
    let start = DOC.find(&format!("<!-- {what}-begin -->")).unwrap();
    let end = DOC.find(&format!("<!-- {what}-end -->")).unwrap();
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
fn file_record_example_matches_the_encoder() {
    let text = framed("file-example");
    let f: FileRecord = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&f).unwrap(), text, "docs/format/repository.md drifted");
    assert!(f.key.is_empty() && f.name.is_empty(), "a lone file record has no identity to derive them from");
}

#[test]
fn document_names_every_kind_and_limit() {
    for kind in [KIND_REPOSITORY, KIND_COMMIT, KIND_LOG_CHECKPOINT, KIND_LAST_CHECKPOINT, KIND_BUNDLE] {
        assert!(DOC.contains(&format!("| `{kind}` |")), "kind {kind} not documented");
    }
    assert!(DOC.contains(&format!("`{MAGIC}`")));
    assert!(DOC.contains(&format!("`HEADER_LEN_MAX` ({HEADER_LEN_MAX})")));
    assert!(DOC.contains(&format!("`{FORMAT_VERSION}` (`FORMAT_VERSION`)")));
    assert!(DOC.contains(&format!("`{FORMAT_VERSION_MIN}` (`FORMAT_VERSION_MIN`)")));
}
