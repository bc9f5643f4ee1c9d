//! Model test: random sequences of edits (tables added, deleted and moved across levels and
//! column families, column families added and dropped, new logs, reopens) with rollovers forced
//! by a tiny size limit. After every step the file system crashes, obsolete files are deleted,
//! and a read-only recovery must equal both the live version set and a simple model.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use strata_base::{FileSystem, SimFs};
use strata_manifest::{CfId, FileNumber, NUM_LEVELS, Version, VersionEdit, VersionSet};

#[derive(Debug, Clone)]
enum Op {
    AddCf,
    DropCf(usize),
    Flush(usize, u8),
    Compact(usize, usize),
    Move(usize, usize),
    NewLog,
    Reopen,
    /// A flush whose manifest write fails at its `k`-th file-system operation, then a crash.
    CrashingFlush(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::AddCf),
        1 => any::<usize>().prop_map(Op::DropCf),
        4 => (any::<usize>(), 1u8..=3).prop_map(|(c, n)| Op::Flush(c, n)),
        3 => (any::<usize>(), 0..NUM_LEVELS - 1).prop_map(|(c, l)| Op::Compact(c, l)),
        2 => (any::<usize>(), 0..NUM_LEVELS - 1).prop_map(|(c, l)| Op::Move(c, l)),
        1 => Just(Op::NewLog),
        1 => Just(Op::Reopen),
        2 => (any::<usize>(), 0u8..12).prop_map(|(c, k)| Op::CrashingFlush(c, k)),
    ]
}

/// Column family id -> (name, table numbers per level).
type Shape = BTreeMap<CfId, (String, Vec<BTreeSet<FileNumber>>)>;

#[derive(Debug, Default, Clone)]
struct Model {
    shape: Shape,
    last_sequence: u64,
    log_number: FileNumber,
}

fn shape_of(v: &Version) -> Shape {
    v.cfs()
        .map(|c| (c.id, (c.name.clone(), c.levels.iter().map(|l| l.iter().map(|f| f.number).collect()).collect())))
        .collect()
}

/// The `l`-th (modulo) non-empty level of `cf` that has a level below it.
fn pick_level(model: &Model, cf: CfId, l: usize) -> Option<usize> {
    let full: Vec<usize> = (0..NUM_LEVELS - 1).filter(|&lv| !model.shape[&cf].1[lv].is_empty()).collect();
    full.get(l % full.len().max(1)).copied()
}

fn pick(model: &Model, i: usize) -> CfId {
    let ids: Vec<CfId> = model.shape.keys().copied().collect();
    ids[i % ids.len()]
}

/// Applies `op` to both the version set and the model.
fn step(set: &mut VersionSet, fs: &SimFs, model: &mut Model, op: &Op, limit: u64) {
    let mut e = VersionEdit::new();
    match *op {
        Op::AddCf => {
            let id = set.next_cf_id();
            e.add_cf(id, format!("cf{id}"), set.options().comparator.name());
            model.shape.insert(id, (format!("cf{id}"), vec![BTreeSet::new(); NUM_LEVELS]));
        }
        Op::DropCf(i) => {
            let ids: Vec<CfId> = model.shape.keys().copied().filter(|&id| id != CfId::DEFAULT).collect();
            let Some(&id) = ids.get(i % ids.len().max(1)) else { return };
            e.drop_cf(id);
            model.shape.remove(&id);
        }
        Op::Flush(i, n) => {
            let cf = pick(model, i);
            for _ in 0..n {
                let number = set.new_file_number();
                touch_table(fs, number);
                model.last_sequence += 1;
                e.add_file(cf, 0, meta(number, model.last_sequence));
                model.shape.get_mut(&cf).unwrap().1[0].insert(number);
            }
            e.last_sequence = Some(model.last_sequence);
        }
        Op::Compact(i, l) => {
            let cf = pick(model, i);
            let Some(level) = pick_level(model, cf, l) else { return };
            let inputs: Vec<FileNumber> = model.shape[&cf].1[level].iter().take(2).copied().collect();
            let out = set.new_file_number();
            touch_table(fs, out);
            let levels = &mut model.shape.get_mut(&cf).unwrap().1;
            for n in inputs {
                e.delete_file(cf, level, n);
                levels[level].remove(&n);
            }
            e.add_file(cf, level + 1, meta(out, model.last_sequence));
            levels[level + 1].insert(out);
        }
        Op::Move(i, l) => {
            let cf = pick(model, i);
            let Some(level) = pick_level(model, cf, l) else { return };
            let Some(&n) = model.shape[&cf].1[level].iter().next() else { return };
            let m = set.current().cf(cf).unwrap().levels[level].iter().find(|f| f.number == n).unwrap().clone();
            e.delete_file(cf, level, n).add_file(cf, level + 1, (*m).clone());
            let levels = &mut model.shape.get_mut(&cf).unwrap().1;
            levels[level].remove(&n);
            levels[level + 1].insert(n);
        }
        Op::NewLog => {
            model.log_number = set.new_file_number();
            e.log_number = Some(model.log_number);
        }
        Op::Reopen => {
            *set = VersionSet::recover(fs.arc(), dir(), opts(limit), false).unwrap();
            return;
        }
        Op::CrashingFlush(i, k) => {
            let cf = pick(model, i);
            let number = set.new_file_number();
            touch_table(fs, number);
            let mut new = model.clone();
            new.last_sequence += 1;
            new.shape.get_mut(&cf).unwrap().1[0].insert(number);
            e.add_file(cf, 0, meta(number, new.last_sequence));
            e.last_sequence = Some(new.last_sequence);
            fs.fail_after(Some(fs.op_count() + u64::from(k)));
            let result = set.log_and_apply(e);
            fs.crash();
            let rec = VersionSet::recover(fs.arc(), dir(), opts(limit), false).unwrap();
            let (got, seq) = (shape_of(&rec.current()), rec.last_sequence());
            if result.is_ok() {
                assert_eq!((&got, seq), (&new.shape, new.last_sequence), "a successful edit was lost");
            } else {
                let old_state = got == model.shape && seq == model.last_sequence;
                let new_state = got == new.shape && seq == new.last_sequence;
                assert!(old_state || new_state, "fault at op {k}: recovered a mix");
            }
            if got == new.shape {
                *model = new;
            }
            *set = rec;
            return;
        }
    }
    set.log_and_apply(e).unwrap();
}

fn check(set: &VersionSet, fs: &SimFs, model: &Model, limit: u64) {
    fs.crash();
    // Delete what the engine would delete; recovery must not need any of it.
    let names = fs.list(dir()).unwrap();
    for name in set.obsolete_files(&names, &BTreeSet::new(), FileNumber::MAX, false) {
        fs.remove_file(&dir().join(name)).unwrap();
    }
    fs.sync_dir(dir()).unwrap();
    let rec = VersionSet::recover(fs.arc(), dir(), opts(limit), true).unwrap();
    assert_eq!(*rec.current(), *set.current());
    assert_eq!(shape_of(&rec.current()), model.shape);
    assert_eq!(rec.last_sequence(), model.last_sequence);
    assert_eq!(rec.log_number(), model.log_number);
    assert!(rec.next_file_number().next() >= set.next_file_number());
    assert!(rec.next_cf_id() == set.next_cf_id());
    let on_disk = fs.list(dir()).unwrap().iter().filter(|n| n.starts_with("MANIFEST-")).count();
    assert_eq!(on_disk, 1, "only the live manifest survives obsolete-file deletion");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn recovery_matches_model(ops in proptest::collection::vec(op(), 1..40), tiny in any::<bool>()) {
        let limit = if tiny { 300 } else { 1 << 20 };
        let fs = sim();
        let mut set = VersionSet::create_new(fs.arc(), dir(), opts(limit)).unwrap();
        let mut model = Model::default();
        model.shape.insert(CfId::DEFAULT, ("default".into(), vec![BTreeSet::new(); NUM_LEVELS]));
        check(&set, &fs, &model, limit);
        for op in &ops {
            step(&mut set, &fs, &mut model, op, limit);
            check(&set, &fs, &model, limit);
        }
    }
}
