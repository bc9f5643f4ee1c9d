//! The test S3 server's put-if-absent (a PUT with `If-None-Match: *`) is atomic: of many
//! writers racing for one key exactly one is answered `Created`, every other sees the 412, and
//! the object holds the winner's bytes. The repository's commit protocol is only as safe as this
//! primitive, and the repository tests (two writers, two processes) rely on it; a plain threaded
//! `moto_server` fails this test (it checks and then writes without a lock: several keys a run
//! were created twice when the harness started it), the harness's wrapper
//! (`strata_tests::s3_server`, requests one at a time) must pass it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::sync::Barrier;
use strata_checkpoint::store::{ObjectStore, Put, Store};
use strata_tests::s3_server::S3Server;

/// Writers racing for each key: separate stores, so separate connections, like processes.
const WRITERS: usize = 8;
/// Keys raced for, one after another, all writers at once.
const KEYS: usize = 50;

#[test]
fn s3_racing_put_if_absent_creates_each_key_exactly_once() {
    // Every object spooled to a temporary file: moto then writes a file between its look for the
    // key and its insert (releasing Python's GIL), which widens the window a non-atomic server
    // leaves open from a rare hit to several keys a run.
    let spool = [("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", "1024")];
    let test = "s3_racing_put_if_absent_creates_each_key_exactly_once";
    let Some(server) = S3Server::start_with(test, None, &spool) else { return };
    server.create_bucket("race");
    let stores: Vec<ObjectStore> =
        (0..WRITERS).map(|_| ObjectStore::new("s3://race/p", server.options()).unwrap()).collect();
    let barrier = Barrier::new(WRITERS);
    // outcomes[w][k]: what writer w's put-if-absent of key k returned.
    let outcomes: Vec<Vec<Put>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(w, store)| {
                let barrier = &barrier;
                s.spawn(move || {
                    (0..KEYS)
                        .map(|k| {
                            barrier.wait();
                            store.put_if_absent(&key(k), &body(w, k)).unwrap()
                        })
                        .collect::<Vec<Put>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut doubles = Vec::new();
    for k in 0..KEYS {
        let winners: Vec<usize> =
            outcomes.iter().enumerate().filter(|(_, puts)| puts[k] == Put::Created).map(|(w, _)| w).collect();
        if winners.len() != 1 {
            doubles.push((k, winners));
            continue;
        }
        let stored = stores[0].get(&key(k)).unwrap().expect("the winner's object");
        assert_eq!(&stored[..], &body(winners[0], k)[..], "key {k} holds the winner's bytes");
    }
    assert!(doubles.is_empty(), "keys not created exactly once (key, writers answered Created): {doubles:?}");
}

fn key(k: usize) -> String {
    format!("log/{k:020}.commit")
}

/// Bytes of each put: more than the server's in-memory buffer (above), so each is written to a
/// file between the server's look and its insert.
const BODY_BYTES: usize = 16 << 10;

/// Writer `w`'s bytes for key `k`: different for every writer, so the winner is recognisable.
fn body(w: usize, k: usize) -> Vec<u8> {
    let tag = format!("writer {w} key {k} ");
    tag.repeat(BODY_BYTES / tag.len() + 1).into_bytes()[..BODY_BYTES].to_vec()
}
