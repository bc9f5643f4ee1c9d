//! Model test of a snapshot repository on `SimFs`: random histories of writes, snapshots (with
//! and without flush), deletes, retention, gc and power losses, checked against a model that
//! maps each acknowledged snapshot to the contents it must restore to. After every crash the
//! repository must list exactly the model's snapshots as complete, and a snapshot picked at
//! random must verify and restore to its contents. Seeds are printed on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::time::Duration;
use strata::{Db, Options, SimFs};
use strata_checkpoint::repo::{
    LogOptions, Repository, RepositoryOptions, RestoreOptions, Retention, SnapshotId, SnapshotOptions, SnapshotState,
    VerifyLevel,
};
use strata_tests::history::Rng;
use strata_tests::{dump, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn dopts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), ..small_options() }
}

fn ropts(sim: &SimFs) -> RepositoryOptions {
    RepositoryOptions {
        fs: Some(sim.arc()),
        creating_grace: Duration::ZERO,
        log: LogOptions { checkpoint_interval: 4, log_retention_commits: 6, ..Default::default() },
    }
}

fn check(sim: &SimFs, repo: &Repository, model: &BTreeMap<u64, Map>, rng: &mut Rng, ctx: &str) {
    let complete: Vec<u64> =
        repo.list().unwrap().iter().filter(|s| s.state == SnapshotState::Complete).map(|s| s.id.0).collect();
    assert_eq!(complete, model.keys().copied().collect::<Vec<_>>(), "{ctx}: complete snapshots");
    if model.is_empty() {
        return;
    }
    let pick = *model.keys().nth(rng.below(model.len() as u64) as usize).unwrap();
    let report = repo.verify(SnapshotId(pick), VerifyLevel::Checksums).unwrap();
    assert!(report.is_ok(), "{ctx}: snapshot {pick}: {:?}", report.problems);
    let dir = format!("/restore-{}", rng.next_u64());
    repo.restore(SnapshotId(pick), &dir, &RestoreOptions::default()).unwrap();
    let db = Db::open_read_only(&dir, dopts(sim)).unwrap();
    assert_eq!(dump(&db), model[&pick], "{ctx}: contents of snapshot {pick}");
}

fn run(seed: u64, steps: u32) {
    let mut rng = Rng::new(seed);
    let sim = SimFs::new();
    let mut db = Db::open("/db", dopts(&sim)).unwrap();
    let mut repo = Repository::create_with("/repo", ropts(&sim)).unwrap();
    let mut model: BTreeMap<u64, Map> = BTreeMap::new();
    let mut next_key = 0u64;
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=39 => {
                for _ in 0..1 + rng.below(80) {
                    let k = rng.below(400);
                    if rng.chance(1, 8) {
                        db.delete(format!("k{k:04}")).unwrap();
                    } else {
                        next_key += 1;
                        db.put(format!("k{k:04}"), format!("{next_key}-{}", "v".repeat(rng.below(90) as usize)))
                            .unwrap();
                    }
                }
                if rng.chance(1, 3) {
                    db.flush().unwrap();
                }
            }
            40..=64 => {
                let opts = SnapshotOptions { flush: rng.chance(2, 3), ..Default::default() };
                let s = repo.create_snapshot(&db, &opts).unwrap();
                model.insert(s.id.0, dump(&db));
            }
            65..=74 if !model.is_empty() => {
                let id = *model.keys().nth(rng.below(model.len() as u64) as usize).unwrap();
                repo.delete(SnapshotId(id)).unwrap();
                model.remove(&id);
            }
            75..=79 if model.len() > 2 => {
                for id in repo.retain(&Retention { keep_last: 2, ..Default::default() }).unwrap() {
                    assert!(model.remove(&id.0).is_some(), "{ctx}: retain deleted unknown {id}");
                }
                assert_eq!(model.len(), 2, "{ctx}");
            }
            80..=87 => {
                let gc = repo.gc().unwrap();
                assert!(gc.damaged.is_empty(), "{ctx}: {gc:?}");
            }
            88..=95 => {
                drop(repo);
                drop(db);
                sim.crash();
                db = Db::open("/db", dopts(&sim)).unwrap();
                repo = Repository::open_with("/repo", ropts(&sim)).unwrap();
            }
            _ => check(&sim, &repo, &model, &mut rng, &ctx),
        }
    }
    repo.gc().unwrap();
    check(&sim, &repo, &model, &mut rng, &format!("seed {seed} end"));
}

#[test]
fn random_histories_agree_with_the_model() {
    let seeds: u64 = std::env::var("STRATA_REPO_MODEL_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    for seed in 0..seeds {
        run(seed, 120);
    }
}
