//! `strata repo ...` against an `s3://` repository on a real S3-protocol server (`moto_server`,
//! started per test by `strata_tests::s3_server`; under `CI=true` a missing server fails the
//! test, elsewhere it is skipped with a line on stderr): init, snapshot (1 and 16 transfers),
//! list (flags and environment), show, verify, restore then `db get`, export/import, delete,
//! retain, gc; and one clear line with exit 1 for a missing bucket or an unreachable endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use strata_tests::s3_server::S3Server;

/// Test credentials; the endpoint comes from a flag or the environment, per call.
const CREDS: &[(&str, &str)] =
    &[("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")];

/// `strata ARGS --endpoint E --allow-http` with the test credentials.
fn s3(server: &S3Server, args: &[&str]) -> Run {
    let endpoint = server.endpoint();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--endpoint", endpoint.as_str(), "--allow-http"]);
    strata_env(&all, CREDS)
}

fn s3_ok(server: &S3Server, args: &[&str]) -> Run {
    let r = s3(server, args);
    assert_eq!(r.code, 0, "strata {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

#[test]
fn s3_walkthrough_init_snapshot_list_verify_restore_delete_gc() {
    let Some(server) = S3Server::start("s3_walkthrough_init_snapshot_list_verify_restore_delete_gc") else { return };
    server.create_bucket("cli-test");
    let url = "s3://cli-test/backups/app";
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());

    let r = s3_ok(&server, &["repo", "init", url]);
    assert!(r.stdout.contains("created an empty snapshot repository"), "{}", r.stdout);
    let again = s3(&server, &["repo", "init", url]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let s1 =
        s3_ok(&server, &["--json", "repo", "snapshot", url, p(db.path()), "--name", "nightly", "--transfers", "16"])
            .json();
    assert_eq!((s1["id"].as_u64(), s1["state"].as_str()), (Some(1), Some("complete")), "{s1}");
    assert_eq!(s1["bytes_added"], s1["bytes_total"], "the first snapshot uploads everything");
    ok(&["db", "put", p(db.path()), "round:1", "x"]);
    let s2 = s3_ok(&server, &["--json", "repo", "snapshot", url, p(db.path()), "--transfers", "1"]).json();
    assert_eq!(s2["id"], 2);
    assert!(s2["bytes_added"].as_u64().unwrap() < s2["bytes_total"].as_u64().unwrap(), "incremental: {s2}");

    let list = s3_ok(&server, &["repo", "list", url]);
    assert!(list.stdout.lines().any(|l| l.contains("nightly") && l.contains("complete")), "{}", list.stdout);
    // The same through the environment alone, no flags.
    let endpoint = server.endpoint();
    let mut env = CREDS.to_vec();
    env.extend([("AWS_ENDPOINT_URL", endpoint.as_str()), ("AWS_ALLOW_HTTP", "true")]);
    let r = strata_env(&["--json", "repo", "list", url], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["snapshots"].as_array().unwrap().len(), 2);
    assert_eq!(s3_ok(&server, &["--json", "repo", "show", url, "nightly"]).json()["id"], 1);

    let v = s3_ok(&server, &["repo", "verify", url, "--transfers", "4"]);
    assert!(v.stdout.contains("snapshot 1: ok") && v.stdout.contains("snapshot 2: ok"), "{}", v.stdout);

    let restored = work.path().join("restored");
    let r = s3_ok(&server, &["repo", "restore", url, "nightly", p(&restored), "--verify-checksums"]);
    assert!(r.stdout.contains(p(&restored)), "{}", r.stdout);
    assert_eq!(ok(&["db", "get", p(&restored), "user:007"]).stdout, "value-7\n");
    assert_eq!(ok(&["db", "get", p(&restored), "late:1"]).stdout, "unflushed\n");
    assert_eq!(ok(&["db", "get", p(&restored), "--cf", "meta", "m:1"]).stdout, "{\"admin\":true}\n");
    assert_eq!(strata(&["db", "get", p(&restored), "round:1"]).code, 1, "snapshot 1 is before round:1");

    let bundle = work.path().join("bundle");
    s3_ok(&server, &["repo", "export", url, "2", p(&bundle)]);
    let copy = work.path().join("copy");
    ok(&["repo", "import", p(&bundle), p(&copy)]);
    assert_eq!(ok(&["db", "get", p(&copy), "round:1"]).stdout, "x\n");

    assert_eq!(s3_ok(&server, &["--json", "repo", "delete", url, "1"]).json()["deleted"], 1);
    let kept = s3_ok(&server, &["--json", "repo", "retain", url, "--keep-last", "1"]).json();
    assert_eq!(kept["deleted"], serde_json::json!([]));
    let g = s3_ok(&server, &["--json", "repo", "gc", url]).json();
    assert_eq!(g["damaged"], serde_json::json!([]), "{g}");
    let ids: Vec<u64> = s3_ok(&server, &["--json", "repo", "list", url]).json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![2]);
    // After gc the kept snapshot still restores whole.
    let r2 = work.path().join("r2");
    s3_ok(&server, &["repo", "restore", url, "2", p(&r2)]);
    assert_eq!(ok(&["db", "get", p(&r2), "round:1"]).stdout, "x\n");
    assert_eq!(ok(&["db", "count", p(&r2)]).stdout, format!("{}\n", USERS + 2));
}

#[test]
fn s3_missing_bucket_or_unreachable_endpoint_is_one_line_and_exit_1() {
    let Some(server) = S3Server::start("s3_missing_bucket_or_unreachable_endpoint_is_one_line_and_exit_1") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("never");
    for args in [
        vec!["repo", "init", "s3://no-such-bucket/app"],
        vec!["repo", "list", "s3://no-such-bucket/app"],
        vec!["repo", "restore", "s3://no-such-bucket/app", "1", p(&target)],
    ] {
        let r = s3(&server, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("s3://no-such-bucket/app"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("bucket"), "says what to check: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    assert!(!target.exists());

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let r = strata_env(&["repo", "list", "s3://cli-test/app", "--endpoint", &endpoint, "--allow-http"], CREDS);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("s3://cli-test/app") && r.stderr.contains("endpoint"), "{}", r.stderr);
    let doc =
        strata_env(&["--json", "repo", "list", "s3://cli-test/app", "--endpoint", &endpoint, "--allow-http"], CREDS)
            .json();
    assert_eq!(doc["error"]["kind"], "failed");
}

/// No server needed: other URL schemes, bundles given as URLs, and store flags with a local
/// repository are refused before any request.
#[test]
fn other_schemes_and_store_flags_with_a_local_path_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let r = strata(&["repo", "list", "gs://bucket/repo"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("gs:// repositories are not supported"), "{}", r.stderr);
    let r = strata(&["repo", "import", "s3://bucket/bundle", p(&work.path().join("x"))]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("strata repo restore"), "{}", r.stderr);
    let r = strata(&["repo", "list", p(work.path()), "--transfers", "4"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("s3:// repositories only"), "{}", r.stderr);
    let r = strata(&["repo", "list", "s3://bucket/repo", "--transfers", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
