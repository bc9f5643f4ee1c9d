//! Property twin of the `manifest_edit` fuzz target: arbitrary bytes never panic the decoder,
//! whatever decodes re-encodes to an edit that decodes the same, and valid edits round-trip.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use proptest::prelude::*;
use strata_manifest::format::NUM_LEVELS;
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{FileMeta, VersionEdit};

fn name() -> impl Strategy<Value = String> {
    "[a-z\\u{e9}\\u{1f600}]{0,12}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24)
}

fn file_meta() -> impl Strategy<Value = FileMeta> {
    (
        any::<u64>(),
        any::<u64>(),
        bytes(),
        bytes(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(number, size, smallest, largest, smallest_seq, largest_seq, checksum, epoch, ingested)| {
            FileMeta {
                number: FileNumber::new(number),
                size,
                smallest,
                largest,
                smallest_seq,
                // An ingested table's sequence range is its global sequence number.
                largest_seq: if ingested { smallest_seq } else { largest_seq },
                checksum,
                epoch,
                global_seq: if ingested { smallest_seq } else { 0 },
            }
        })
}

fn edit() -> impl Strategy<Value = VersionEdit> {
    let counters = (
        proptest::option::of(name()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u32>()),
    );
    let lists = (
        proptest::collection::vec((any::<u32>(), name(), name()), 0..3),
        proptest::collection::vec(any::<u32>(), 0..3),
        proptest::collection::vec((any::<u32>(), 0..NUM_LEVELS, any::<u64>()), 0..4),
        proptest::collection::vec((any::<u32>(), 0..NUM_LEVELS, file_meta()), 0..4),
    );
    (counters, lists).prop_map(|((cmp, log, next, last, max_cf), (adds, drops, dels, news))| {
        let mut e = VersionEdit {
            comparator: cmp,
            log_number: log.map(FileNumber::new),
            next_file_number: next.map(FileNumber::new),
            last_sequence: last,
            max_cf_id: max_cf.map(CfId::new),
            ..VersionEdit::default()
        };
        for (id, n, c) in adds {
            e.add_cf(CfId::new(id), n, c);
        }
        for id in drops {
            e.drop_cf(CfId::new(id));
        }
        for (cf, level, number) in dels {
            e.delete_file(CfId::new(cf), level, FileNumber::new(number));
        }
        for (cf, level, meta) in news {
            e.add_file(CfId::new(cf), level, meta);
        }
        e
    })
}

/// The fuzz target's check, shared in spirit: decode, and if that works, re-encode.
fn check_bytes(data: &[u8]) {
    if let Ok(e) = VersionEdit::decode_from(data) {
        let again = VersionEdit::decode_from(&e.encode()).unwrap();
        assert_eq!(again, e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_bytes(&data);
    }

    #[test]
    fn valid_edits_round_trip(e in edit()) {
        let bytes = e.encode();
        prop_assert_eq!(VersionEdit::decode_from(&bytes).unwrap(), e);
    }

    #[test]
    fn mutated_edits_never_panic(e in edit(), at in any::<usize>(), xor in 1u8..) {
        let mut bytes = e.encode();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] ^= xor;
        }
        check_bytes(&bytes);
    }
}

/// Boundary case: a field whose length varint overflows 64 bits must be refused, not wrapped.
#[test]
fn overlong_length_varint_is_refused() {
    let data = [9u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert!(VersionEdit::decode_from(&data).is_err());
}
