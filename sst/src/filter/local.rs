//! The version 2 filter: a cache-local (blocked) Bloom filter.
//!
//! The bit array is cut into 64-byte lines. A key's hash picks one line and every probe sets
//! or tests a bit inside it, so a lookup touches one cache line however many probes it makes
//! (the version 1 filter touched up to one line per probe). Crowding all of a key's bits into
//! one line costs a little accuracy (at 10 bits per key about 0.96% false positives against
//! 0.84% for the spread-out filter); the probe count per bits-per-key is chosen for the
//! blocked layout (`LOCAL_BLOOM_PROBES`), which needs fewer probes than a standard filter. The
//! bytes, the line choice and the probe sequence are in `docs/format/sst.md` ("Filter block,
//! version 2"); none of them may ever change.
//!
//! Invariants: [`LocalBloom::decode`] accepts only `64 * n + 1` bytes with `1 <= n <=
//! FILTER_LINES_MAX` and a probe count in `1..=BLOOM_PROBES_MAX`; a lookup indexes one line
//! below `n` and one word below 8, both by construction, and never panics.
//!
//! Thread safety: a `LocalBloom` is immutable and shared.

use crate::format::{
    BLOOM_PROBES_MAX, FILTER_LINE_BITS, FILTER_LINE_LEN, FILTER_LINES_MAX, LOCAL_BLOOM_MULTIPLIER, LOCAL_BLOOM_PROBES,
};

const WORDS_PER_LINE: usize = FILTER_LINE_LEN / 8;
const _: () = assert!(FILTER_LINE_BITS == 512, "a probe takes the top 9 bits of its state");
const _: () = assert!(WORDS_PER_LINE == 8);

/// One 64-byte line as eight little-endian words, aligned in memory so that it is one cache
/// line (the file's bytes are copied into these at open).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u64; WORDS_PER_LINE]);

const _: () = assert!(std::mem::size_of::<Line>() == FILTER_LINE_LEN);

/// The line a hash picks among `lines` (`lines <= 2^32`): the high 32 bits scaled to the range.
#[inline]
fn line_of(h: u64, lines: u64) -> u64 {
    ((h >> 32) * lines) >> 32
}

/// The bits of a line a hash sets, one per probe: the top 9 bits of a 32-bit state that starts
/// as the hash's low 32 bits and is multiplied by `LOCAL_BLOOM_MULTIPLIER` after each probe.
#[inline]
fn probe_bits(h: u64, probes: u8) -> impl Iterator<Item = u32> {
    let mut state = h as u32;
    (0..probes).map(move |_| {
        let bit = state >> 23;
        state = state.wrapping_mul(LOCAL_BLOOM_MULTIPLIER);
        bit
    })
}

/// Lines of a filter over `keys` keys at `bits_per_key`: `ceil(keys * bits_per_key / 512)`,
/// at least 1 and at most `FILTER_LINES_MAX` (a larger table's filter saturates instead of
/// growing past the largest block a reader accepts).
pub fn lines_for(keys: usize, bits_per_key: u32) -> usize {
    let bits = (keys as u64).saturating_mul(u64::from(bits_per_key));
    let lines = bits.div_ceil(FILTER_LINE_BITS as u64);
    lines.clamp(1, FILTER_LINES_MAX as u64) as usize
}

/// Probes for `bits_per_key` (`1..=BLOOM_BITS_PER_KEY_MAX`; 0 is treated as 1).
pub fn probes_for(bits_per_key: u32) -> u8 {
    let i = (bits_per_key.max(1) as usize - 1).min(LOCAL_BLOOM_PROBES.len() - 1);
    LOCAL_BLOOM_PROBES.get(i).copied().unwrap_or(1)
}

/// Builds the filter contents over the given key hashes: the lines, then the probe count.
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    let mut b = LocalBuilder::new(hashes.len(), bits_per_key);
    for &h in hashes {
        b.add(h);
    }
    b.finish()
}

/// A filter built while keys are added, when their number is known in advance: it holds only
/// the lines (`bits_per_key / 8` bytes per key) where collecting the hashes for [`build`] takes
/// 8 bytes per key. Over the same hashes, sized for their number, its bytes are `build`'s.
///
/// Hashes are set in batches of [`PENDING_MAX`]: a table's lines do not stay in cache while a
/// flush streams a memtable through it, and a batch's line updates, independent of one
/// another, overlap their cache misses (setting each hash as it came took 15% of a flush's
/// time, as much as the whole filter build at the end did).
#[derive(Debug, Clone)]
pub struct LocalBuilder {
    lines: Vec<Line>,
    probes: u8,
    /// Hashes added but not set yet.
    pending: Vec<u64>,
}

/// Hashes a [`LocalBuilder`] sets at once (8 KiB of them).
const PENDING_MAX: usize = 1024;

impl LocalBuilder {
    /// An empty filter of [`lines_for`]`(keys, bits_per_key)` lines.
    pub fn new(keys: usize, bits_per_key: u32) -> Self {
        Self {
            lines: vec![Line::default(); lines_for(keys, bits_per_key)],
            probes: probes_for(bits_per_key),
            pending: Vec::new(),
        }
    }

    /// Adds a key's hash.
    pub fn add(&mut self, h: u64) {
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(PENDING_MAX);
        }
        self.pending.push(h);
        if self.pending.len() >= PENDING_MAX {
            self.set_pending();
        }
    }

    fn set_pending(&mut self) {
        let n = self.lines.len() as u64;
        for &h in &self.pending {
            // line_of(h, n) < n by construction.
            if let Some(line) = self.lines.get_mut(line_of(h, n) as usize) {
                for bit in probe_bits(h, self.probes) {
                    line.0[(bit / 64) as usize] |= 1 << (bit % 64);
                }
            }
        }
        self.pending.clear();
    }

    /// Bytes the finished filter will have.
    pub fn encoded_len(&self) -> usize {
        self.lines.len() * FILTER_LINE_LEN + 1
    }

    /// The filter contents: the lines, then the probe count.
    pub fn finish(&mut self) -> Vec<u8> {
        self.set_pending();
        let mut out = Vec::with_capacity(self.encoded_len());
        for line in &self.lines {
            for w in line.0 {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out.push(self.probes);
        out
    }
}

/// A decoded version 2 filter.
#[derive(Debug, Clone)]
pub struct LocalBloom {
    lines: Box<[Line]>,
    probes: u8,
}

impl LocalBloom {
    /// Bytes this filter keeps in memory.
    pub fn size(&self) -> usize {
        self.lines.len() * FILTER_LINE_LEN
    }

    /// Checks the layout and copies the lines into cache-aligned memory; `Err` carries the
    /// reason.
    pub fn decode(data: &[u8]) -> Result<Self, String> {
        let Some((&probes, bits)) = data.split_last() else {
            return Err("empty filter".into());
        };
        if bits.is_empty() || bits.len() % FILTER_LINE_LEN != 0 {
            return Err(format!(
                "filter of {} bytes is not a whole number (>= 1) of {FILTER_LINE_LEN}-byte lines and a probe byte",
                data.len()
            ));
        }
        let n = bits.len() / FILTER_LINE_LEN;
        if n > FILTER_LINES_MAX {
            return Err(format!("filter of {n} lines exceeds {FILTER_LINES_MAX}"));
        }
        if probes == 0 || probes > BLOOM_PROBES_MAX {
            return Err(format!("bad filter probe count {probes} (1..={BLOOM_PROBES_MAX})"));
        }
        let lines = bits
            .chunks_exact(FILTER_LINE_LEN)
            .map(|chunk| {
                let mut line = Line::default();
                for (w, b) in line.0.iter_mut().zip(chunk.chunks_exact(8)) {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(b);
                    *w = u64::from_le_bytes(le);
                }
                line
            })
            .collect();
        Ok(Self { lines, probes })
    }

    /// False only if no key with this hash was added.
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        // line_of(h, n) < n by construction (n <= FILTER_LINES_MAX < 2^32); a miss would be a
        // bug, answered "maybe".
        let Some(line) = self.lines.get(line_of(h, self.lines.len() as u64) as usize) else {
            return true;
        };
        probe_bits(h, self.probes).all(|bit| line.0[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::hash64;
    use crate::format::BLOOM_BITS_PER_KEY_MAX;

    fn keys(prefix: &str, n: u32) -> impl Iterator<Item = Vec<u8>> + '_ {
        (0..n).map(move |i| format!("{prefix}{i}").into_bytes())
    }

    fn filter_of(n: u32, bits_per_key: u32) -> LocalBloom {
        let hashes: Vec<u64> = keys("present", n).map(|k| hash64(&k)).collect();
        LocalBloom::decode(&build(&hashes, bits_per_key)).unwrap()
    }

    fn fp_rate(f: &LocalBloom, trials: u32) -> f64 {
        let fp = keys("absent", trials).filter(|k| f.may_contain_hash(hash64(k))).count();
        fp as f64 / f64::from(trials)
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives_at_10_bits() {
        let n = 100_000;
        let f = filter_of(n, 10);
        assert_eq!(f.probes, 6);
        assert_eq!(f.size(), 1954 * 64, "ceil(100000 * 10 / 512) lines");
        assert!(keys("present", n).all(|k| f.may_contain_hash(hash64(&k))), "a false negative");
        let rate = fp_rate(&f, 1_000_000);
        // Model for 10 bits/key, 6 probes, 512-bit lines: 0.96% (version 1 measured 0.84%).
        assert!(rate < 0.012, "false positive rate {rate}");
        assert!(rate > 0.006, "false positive rate {rate} suspiciously low");
    }

    #[test]
    fn false_positives_fall_with_more_bits_per_key() {
        let n = 20_000;
        let mut last = 1.0;
        for (bits, bound) in [(4, 0.17), (8, 0.028), (12, 0.0055), (16, 0.0013), (20, 0.0005)] {
            let f = filter_of(n, bits);
            assert!(keys("present", n).all(|k| f.may_contain_hash(hash64(&k))), "{bits}: a false negative");
            let rate = fp_rate(&f, 200_000);
            assert!(rate < bound, "{bits} bits/key: false positive rate {rate} above {bound}");
            assert!(rate < last, "{bits} bits/key: {rate} not below {last}");
            last = rate;
        }
    }

    #[test]
    fn probe_table_covers_every_option_and_stays_in_range() {
        assert_eq!(LOCAL_BLOOM_PROBES.len(), BLOOM_BITS_PER_KEY_MAX as usize);
        assert!(LOCAL_BLOOM_PROBES.windows(2).all(|w| w[0] <= w[1]), "non-decreasing");
        assert!(LOCAL_BLOOM_PROBES.iter().all(|&p| (1..=BLOOM_PROBES_MAX).contains(&p)));
        assert_eq!((probes_for(0), probes_for(1), probes_for(10), probes_for(64)), (1, 1, 6, 20));
    }

    #[test]
    fn sizes_round_up_to_whole_lines() {
        assert_eq!(lines_for(0, 10), 1);
        assert_eq!(lines_for(3, 10), 1);
        assert_eq!(lines_for(51, 10), 1);
        assert_eq!(lines_for(52, 10), 2);
        assert_eq!(lines_for(usize::MAX, 64), FILTER_LINES_MAX);
        let f = build(&[1, 2, 3], 10);
        assert_eq!(f.len(), 65);
        assert_eq!(f[64], 6);
    }

    /// The bits one hash sets, worked by hand from the document's rules.
    #[test]
    fn a_hash_sets_the_documented_bits() {
        // Two lines: the line is the hash's high half scaled to 2, so 0x8000_0000.. picks line 1.
        let h: u64 = 0x8000_0000_8000_0000;
        // Two keys at 512 bits each make two lines (the probe count saturates at 20).
        let two = build(&[h, 0], 512);
        assert_eq!(two.len(), 2 * 64 + 1);
        assert_eq!(two[128], 20);
        // State 0x8000_0000: first bit 256 (byte 32, bit 0); then 0x8000_0000 * 0x9e3779b9 mod
        // 2^32 = 0x8000_0000 (odd multiplier): every probe sets bit 256.
        let line1 = &two[64..128];
        assert_eq!(line1[32], 0x01);
        assert_eq!(line1.iter().filter(|&&b| b != 0).count(), 1);
        let d = LocalBloom::decode(&two).unwrap();
        assert!(d.may_contain_hash(h));
        assert!(!d.may_contain_hash(0x8000_0000_4000_0000), "bit 128 of line 1 is clear");
    }

    /// The worked example of docs/format/sst.md: the bits each key sets in a one-line filter.
    #[test]
    fn worked_example_bits_match_the_document() {
        let bits = |k: &[u8]| probe_bits(hash64(k), 6).collect::<Vec<_>>();
        assert_eq!(bits(b"apple"), [9, 452, 84, 331, 318, 95]);
        assert_eq!(bits(b"apricot"), [87, 331, 287, 114, 417, 284]);
        assert_eq!(bits(b"banana"), [287, 18, 35, 331, 210, 208]);
        assert_eq!(line_of(hash64(b"apple"), 1), 0);
    }

    #[test]
    fn decode_rejects_bad_layouts() {
        let err = |b: &[u8]| LocalBloom::decode(b).unwrap_err();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[6]).contains("64-byte lines"));
        assert!(err(&[0; 64]).contains("64-byte lines"), "64 bytes: 63 of bits");
        assert!(err(&[0; 66]).contains("64-byte lines"));
        let mut ok = vec![0xff; 65];
        ok[64] = 0;
        assert!(err(&ok).contains("probe count 0"));
        ok[64] = BLOOM_PROBES_MAX + 1;
        assert!(err(&ok).contains("probe count"));
        // An all-ones filter says "maybe" to everything.
        ok[64] = 3;
        let f = LocalBloom::decode(&ok).unwrap();
        assert!(f.may_contain_hash(hash64(b"anything")));
        // An all-zeros one says "no" to everything.
        let z = LocalBloom::decode(&[[0u8; 64].as_slice(), &[1]].concat()).unwrap();
        assert!(!z.may_contain_hash(hash64(b"anything")));
    }
}
