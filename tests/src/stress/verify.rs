//! Verification of a database, or a checkpoint of one, against the replayed model of every
//! stress thread.
//!
//! Invariants: a check reads one consistent state (a snapshot) and reports the first
//! difference as a message naming column family, key, expected and actual values.
//!
//! Thread safety: reads only; may run beside writers (through the snapshot).

use super::ops::{CFS, META_CF, Model, Shape, key, replay};
use strata::{ColumnFamily, Db, ReadOptions};

/// Shows a value briefly for messages.
pub fn show(v: Option<&[u8]>) -> String {
    match v {
        None => "<absent>".into(),
        Some(v) => {
            let s = String::from_utf8_lossy(v);
            let cut: String = s.chars().take(40).collect();
            format!("{cut:?} ({} bytes)", v.len())
        }
    }
}

/// The column family handles, in [`CFS`] order.
pub fn cf_handles(db: &Db) -> Result<Vec<ColumnFamily>, String> {
    CFS.iter().map(|n| db.cf(n).ok_or_else(|| format!("column family {n} missing"))).collect()
}

/// The marker of thread `t` (0 when it never wrote).
pub fn read_marker(db: &Db, ro: &ReadOptions<'_>, t: u32) -> Result<u64, String> {
    let meta = db.cf(META_CF).ok_or("column family meta missing")?;
    let v = db.get_cf_opt(&meta, ro, super::ops::marker_key(t)).map_err(|e| format!("marker {t}: {e}"))?;
    match v {
        None => Ok(0),
        Some(v) => std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("marker {t} holds {}", show(Some(&v)))),
    }
}

/// `(key, value)` pairs in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Scans keys `lo..hi` of thread `t` in `cf` forward (or backward); returns the entries in
/// key order.
pub fn scan(
    db: &Db,
    cf: &ColumnFamily,
    ro: &ReadOptions<'_>,
    t: u32,
    (lo, hi): (u32, u32),
    backward: bool,
) -> Result<Entries, String> {
    let ro = ReadOptions {
        snapshot: ro.snapshot,
        lower_bound: Some(key(t, lo)),
        upper_bound: Some(key(t, hi)),
        ..Default::default()
    };
    let mut it = db.iter_cf(cf, &ro).map_err(|e| format!("iter: {e}"))?;
    let mut got = Vec::new();
    if backward {
        it.seek_to_last();
    } else {
        it.seek_to_first();
    }
    while it.valid() {
        got.push((it.key().to_vec(), it.value().to_vec()));
        if backward {
            it.prev();
        } else {
            it.next();
        }
    }
    it.status().map_err(|e| format!("iterator status: {e}"))?;
    if backward {
        got.reverse();
    }
    Ok(got)
}

/// Scans keys `lo..hi` of thread `t` in `cf` forward (or backward) and compares them with the
/// model.
pub fn check_range(
    db: &Db,
    (cf, cfi): (&ColumnFamily, usize),
    ro: &ReadOptions<'_>,
    t: u32,
    (lo, hi): (u32, u32),
    model: &Model,
    backward: bool,
) -> Result<(), String> {
    let got = scan(db, cf, ro, t, (lo, hi), backward)?;
    let want = model.range(cfi, t, lo, hi);
    if got == want {
        return Ok(());
    }
    let dir = if backward { "backward" } else { "forward" };
    for i in 0..got.len().max(want.len()) {
        let (g, w) = (got.get(i), want.get(i));
        if g != w {
            let name = |e: Option<&(Vec<u8>, Vec<u8>)>| {
                e.map(|(k, v)| format!("{} = {}", String::from_utf8_lossy(k), show(Some(v)))).unwrap_or("<end>".into())
            };
            return Err(format!(
                "{dir} scan of cf {} thread {t} keys {lo}..{hi}: entry {i} is {}, expected {}",
                CFS[cfi],
                name(g),
                name(w)
            ));
        }
    }
    unreachable!("got != want but no entry differs")
}

/// Verifies every thread's keys at one snapshot: marker `R_t >= min_acked[t]` and contents
/// equal to the replay of writes `1..=R_t`. Returns the markers.
pub fn verify_db(db: &Db, shape: &Shape, min_acked: &[u64]) -> Result<Vec<u64>, String> {
    let snap = db.snapshot();
    let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    let cfs = cf_handles(db)?;
    let mut markers = Vec::new();
    for t in 0..shape.threads {
        let r = read_marker(db, &ro, t)?;
        let acked = min_acked.get(t as usize).copied().unwrap_or(0);
        if r < acked {
            return Err(format!(
                "acknowledged synced write lost: thread {t} acknowledged write {acked} but the \
                 database holds only writes up to {r}"
            ));
        }
        let model = replay(shape, t, r);
        for (i, cf) in cfs.iter().enumerate() {
            check_range(db, (cf, i), &ro, t, (0, shape.keys), &model, false)
                .map_err(|e| format!("state after write {r} of thread {t} (a hole or extra write?): {e}"))?;
        }
        markers.push(r);
    }
    Ok(markers)
}
