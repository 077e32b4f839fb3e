//! A stable 64-bit hasher for trace hashes. `std`'s `DefaultHasher` may change between Rust
//! releases and is randomly keyed in `HashMap`; a trace hash must be the same on every machine
//! and every build of the same source, so it gets its own.

use std::hash::Hasher;

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Word-at-a-time multiplicative hashing (the FxHash mix) with a final avalanche. Integers are
/// hashed by value, never by native-endian bytes or pointer width, so the result does not
/// depend on the platform.
#[derive(Clone, Debug)]
pub struct StableHasher {
    state: u64,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl StableHasher {
    pub const fn new() -> StableHasher {
        StableHasher {
            state: 0x243f_6a88_85a3_08d3,
        }
    }

    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("chunk of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.add(i as i64 as u64);
    }

    /// murmur3's fmix64, so that nearby states give unrelated hashes.
    fn finish(&self) -> u64 {
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of(value: impl Hash) -> u64 {
        let mut hasher = StableHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    // The values are frozen: if this test fails, every stored trace hash changes meaning.
    #[test]
    fn frozen_values() {
        assert_eq!(hash_of(0u64), 0x9750_00a4_0692_b575);
        assert_ne!(hash_of("ab"), hash_of("ba"));
        assert_ne!(hash_of((1u32, 2u32)), hash_of((2u32, 1u32)));
        // The `write` path (strings, byte slices) whole words, a remainder, and nothing.
        let written = |bytes: &[u8]| {
            let mut hasher = StableHasher::new();
            hasher.write(bytes);
            hasher.finish()
        };
        let frozen: Vec<u64> = vec![
            written(b""),
            written(b"abc"),
            written(b"faultlin"),
            written(b"faultline-sim"),
            hash_of("faultline"),
            hash_of((7u8, -3i64, 1u128 << 100, "n2", Some(5usize))),
        ];
        assert_eq!(
            frozen,
            [
                0x7acd_bb98_b134_4213,
                0xbcff_3ce7_ed57_fb52,
                0xa845_fef9_d765_d93e,
                0x3144_c798_85d7_1b2d,
                0x5be5_4403_33fb_a180,
                0x39bd_53d6_c2d5_e31c,
            ]
        );
    }
}
