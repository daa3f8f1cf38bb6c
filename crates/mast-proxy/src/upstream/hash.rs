//! Consistent hashing as Envoy does it: xxHash64 (Envoy's `HashUtil::xxHash64`, seed 0) of
//! the request's key; a ring of hashes of each host's address (`RING_HASH`, its size scaled
//! by host weight between the minimum and maximum ring size), or a Maglev lookup table
//! (`MAGLEV`, 65537 entries by default, filled from each host's permutation in proportion to
//! its weight). Both are built once per endpoint set; a request's pick is a binary search or
//! one index.

/// xxHash64 of `data` with `seed`.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    const P1: u64 = 11_400_714_785_074_694_791;
    const P2: u64 = 14_029_467_366_897_019_727;
    const P3: u64 = 1_609_587_929_392_839_161;
    const P4: u64 = 9_650_029_242_287_828_579;
    const P5: u64 = 2_870_177_450_012_600_261;
    fn round(acc: u64, input: u64) -> u64 {
        acc.wrapping_add(input.wrapping_mul(P2))
            .rotate_left(31)
            .wrapping_mul(P1)
    }
    fn merge(acc: u64, val: u64) -> u64 {
        (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
    }
    let u64_at = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let u32_at = |b: &[u8]| u64::from(u32::from_le_bytes(b[..4].try_into().expect("4 bytes")));
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, u64_at(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u64);
    while rest.len() >= 8 {
        h ^= round(0, u64_at(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h ^= u32_at(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for b in rest {
        h ^= u64::from(*b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// Folds one more hash policy's hash into the request's, as Envoy's `HashPolicyImpl` does.
pub fn combine(acc: Option<u64>, next: u64) -> u64 {
    match acc {
        None => next,
        Some(a) => a.rotate_left(1) ^ next,
    }
}

/// A ring of `(hash, host index)`, sorted by hash.
#[derive(Debug, Default)]
pub struct Ring(Vec<(u64, u32)>);

impl Ring {
    /// The ring of hosts named `names` with `weights`, between `min` and `max` entries
    /// (Envoy's `RingHashLoadBalancer::Ring`: every host gets entries in proportion to its
    /// weight, at least `min` in all; each entry is the hash of `NAME_i`).
    pub fn build(names: &[&str], weights: &[u32], min: u64, max: u64) -> Ring {
        let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
        if names.is_empty() || total == 0.0 {
            return Ring::default();
        }
        let normalized: Vec<f64> = weights.iter().map(|w| f64::from(*w) / total).collect();
        let least = normalized.iter().copied().fold(f64::INFINITY, f64::min);
        let scale = ((least * min as f64).ceil() / least).min(max as f64);
        let mut ring = Vec::with_capacity(scale as usize + names.len());
        let (mut target, mut made) = (0.0f64, 0u64);
        for (i, (name, w)) in names.iter().zip(&normalized).enumerate() {
            target += scale * w;
            let mut k = 0u64;
            while (made as f64) < target {
                let key = format!("{name}_{k}");
                ring.push((xxh64(key.as_bytes(), 0), i as u32));
                k += 1;
                made += 1;
            }
        }
        ring.sort_unstable();
        Ring(ring)
    }

    /// The host index for `hash`, then the next distinct ones around the ring.
    pub fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.0.partition_point(|(h, _)| *h < hash);
        let n = self.0.len();
        (0..n).map(move |k| self.0[(start + k) % n].1 as usize)
    }

    /// Its number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A Maglev lookup table of host indexes.
#[derive(Debug, Default)]
pub struct Maglev(Vec<u32>);

impl Maglev {
    /// The table (of prime size `size`) for hosts `names` with `weights`: each host walks its
    /// own permutation of the slots (offset from `xxh64(name, 0)`, skip from
    /// `xxh64(name, 1)`), taking turns in proportion to its weight until every slot is taken.
    pub fn build(names: &[&str], weights: &[u32], size: u64) -> Maglev {
        let max_weight = weights.iter().copied().max().unwrap_or(0);
        if names.is_empty() || max_weight == 0 || size < 2 {
            return Maglev::default();
        }
        let m = size;
        let perm: Vec<(u64, u64)> = names
            .iter()
            .map(|n| {
                (
                    xxh64(n.as_bytes(), 0) % m,
                    xxh64(n.as_bytes(), 1) % (m - 1) + 1,
                )
            })
            .collect();
        let mut table = vec![u32::MAX; m as usize];
        let mut next = vec![0u64; names.len()];
        let mut taken = vec![0u64; names.len()];
        let mut filled = 0u64;
        let mut iteration = 1u64;
        while filled < m {
            for i in 0..names.len() {
                // a host takes a slot when its share of the turns so far allows one more
                if u64::from(weights[i]) * iteration < u64::from(max_weight) * (taken[i] + 1) {
                    continue;
                }
                let (offset, skip) = perm[i];
                loop {
                    let slot = ((offset + skip * next[i]) % m) as usize;
                    next[i] += 1;
                    if table[slot] == u32::MAX {
                        table[slot] = i as u32;
                        break;
                    }
                }
                taken[i] += 1;
                filled += 1;
                if filled == m {
                    break;
                }
            }
            iteration += 1;
        }
        Maglev(table)
    }

    /// The host index for `hash`, then the others in table order.
    pub fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.0.len();
        let start = if n == 0 {
            0
        } else {
            (hash % n as u64) as usize
        };
        (0..n).map(move |k| self.0[(start + k) % n] as usize)
    }

    /// Its number of slots.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no slot.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_matches_the_reference_vectors() {
        let cases: &[(&[u8], u64, u64)] = &[
            (b"", 0, 0xEF46_DB37_51D8_E999),
            (b"a", 0, 0xD24E_C4F1_A98C_6E5B),
            (b"abc", 0, 0x44BC_2CF5_AD77_0999),
            (
                b"Nobody inspects the spammish repetition",
                0,
                0xFBCE_A83C_8A37_8BF1,
            ),
        ];
        for (data, seed, want) in cases {
            assert_eq!(
                xxh64(data, *seed),
                *want,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    fn shares(picks: impl Iterator<Item = usize>, n: usize) -> Vec<usize> {
        let mut out = vec![0; n];
        for p in picks {
            out[p] += 1;
        }
        out
    }

    #[test]
    fn ring_is_weighted_and_stable() {
        let names = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
        let ring = Ring::build(&names, &[1, 1, 2], 1024, 8 << 20);
        assert!(ring.len() >= 1024, "{}", ring.len());
        let owned = shares(ring.0.iter().map(|(_, i)| *i as usize), 3);
        assert_eq!(owned.iter().sum::<usize>(), ring.len());
        assert!(owned[2] > owned[0] && owned[2] > owned[1], "{owned:?}");
        // keys spread by weight
        let picks = shares(
            (0..20_000u64).map(|k| ring.walk(xxh64(&k.to_le_bytes(), 0)).next().unwrap()),
            3,
        );
        assert!((3_500..6_500).contains(&picks[0]), "{picks:?}");
        assert!((8_000..12_000).contains(&picks[2]), "{picks:?}");
        // removing a host moves only its keys (the others keep their 256 entries each)
        let smaller = Ring::build(&names[..2], &[1, 1], 512, 8 << 20);
        for k in 0..2_000u64 {
            let h = xxh64(&k.to_le_bytes(), 0);
            let before = ring.walk(h).next().unwrap();
            if before < 2 {
                assert_eq!(smaller.walk(h).next().unwrap(), before, "key {k}");
            }
        }
    }

    #[test]
    fn maglev_fills_by_weight_and_moves_little() {
        let names = ["a:1", "b:1", "c:1"];
        let table = Maglev::build(&names, &[1, 1, 2], 65_537);
        assert_eq!(table.len(), 65_537);
        let owned = shares(table.0.iter().map(|i| *i as usize), 3);
        assert!((15_000..18_000).contains(&owned[0]), "{owned:?}");
        assert!((31_000..34_500).contains(&owned[2]), "{owned:?}");
        let smaller = Maglev::build(&names[..2], &[1, 1], 65_537);
        let moved = (0..65_537u64)
            .filter(|h| {
                let b = table.walk(*h).next().unwrap();
                b < 2 && smaller.walk(*h).next().unwrap() != b
            })
            .count();
        // Maglev keeps most keys of the hosts that stay
        assert!(moved < 6_600, "{moved} keys moved");
    }

    #[test]
    fn combining_is_order_sensitive() {
        assert_eq!(combine(None, 7), 7);
        assert_ne!(combine(Some(1), 2), combine(Some(2), 1));
    }
}
