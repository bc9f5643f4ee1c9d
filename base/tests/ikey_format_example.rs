//! The worked example of `docs/format/internal_key.md`, read from the document's table,
//! encoded and compared byte for byte; then parsed back and sorted as the document says.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::sync::Arc;
use strata_base::BytewiseComparator;
use strata_base::comparator::Comparator;
use strata_base::ikey::{self, InternalKeyComparator, SEQ_MAX, TRAILER_LEN, ValueKind};

const DOC: &str = include_str!("../../docs/format/internal_key.md");

/// The rows between the example markers: (description, bytes).
fn doc_rows() -> Vec<(&'static str, Vec<u8>)> {
    let start = DOC.find("<!-- example-begin -->").expect("begin marker");
    let end = DOC.find("<!-- example-end -->").expect("end marker");
    DOC[start..end]
        .lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| empty"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let bytes = cols[2].trim_matches('`').split_whitespace().map(|t| u8::from_str_radix(t, 16).unwrap());
            (cols[1], bytes.collect())
        })
        .collect()
}

/// The keys the rows describe, in the document's order.
fn example_keys() -> Vec<(&'static [u8], u64, ValueKind)> {
    vec![
        (b"apple", 258, ValueKind::Put),
        (b"apple", 258, ValueKind::Delete),
        (b"apple", SEQ_MAX, ValueKind::Put),
        (b"", 0, ValueKind::Delete),
    ]
}

#[test]
fn encoder_writes_the_documented_bytes() {
    let rows = doc_rows();
    let keys = example_keys();
    assert_eq!(rows.len(), keys.len(), "rows of the example table");
    for ((desc, doc), (user, seq, kind)) in rows.iter().zip(&keys) {
        let got = ikey::encode(user, *seq, *kind);
        assert_eq!(&got, doc, "row {desc:?}: the encoder and docs/format/internal_key.md disagree");
        assert_eq!(got.len(), user.len() + TRAILER_LEN);
        let p = ikey::parse(doc).unwrap();
        assert_eq!((p.user_key, p.seq, p.kind), (*user, *seq, *kind), "row {desc:?} parsed");
    }
    // The lookup-key row is what a reader at SEQ_MAX seeks to.
    assert_eq!(ikey::lookup_key(b"apple", SEQ_MAX), rows[2].1);
}

#[test]
fn rows_sort_as_the_document_says() {
    let c = InternalKeyComparator::new(Arc::new(BytewiseComparator));
    let rows = doc_rows();
    let mut sorted: Vec<&Vec<u8>> = rows.iter().map(|(_, b)| b).collect();
    sorted.sort_by(|a, b| c.compare(a, b));
    // "empty key, then apple@SEQ_MAX Put, apple@258 Put, apple@258 Delete".
    assert_eq!(sorted, vec![&rows[3].1, &rows[2].1, &rows[0].1, &rows[1].1]);
}

#[test]
fn unknown_kind_and_short_keys_do_not_parse() {
    let mut k = doc_rows()[0].1.clone();
    let kind_at = k.len() - TRAILER_LEN;
    for b in 2..=u8::MAX {
        k[kind_at] = b;
        assert!(ikey::parse(&k).is_none(), "kind byte {b} is unassigned");
    }
    for n in 0..TRAILER_LEN {
        assert!(ikey::parse(&vec![0; n]).is_none(), "{n} bytes is shorter than a trailer");
    }
}
