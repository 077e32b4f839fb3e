//! Seeded randomness. One seed expands into independent ChaCha8 streams, one per purpose
//! (plan, each node incarnation), so adding a node or a client does not shift the draws of
//! any other stream; and into keyed draws, where a draw depends on a key
//! (a link and the message's place on it, a disk and the operation's number) and on nothing
//! drawn before it ([`Keys`]), so removing one message or one fault leaves every other draw as
//! it was.
//! Every draw uses integer arithmetic only.

use crate::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The draw methods of [`Rng`] and [`KeyedRng`], on top of their `next_u64`.
macro_rules! draws {
    () => {
        /// Uniform in `0..bound` (Lemire's multiply-shift; the bias is below 2^-64 * bound).
        /// `bound` must be positive.
        #[inline]
        pub fn below(&mut self, bound: u64) -> u64 {
            assert!(bound > 0, "Rng::below(0)");
            ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
        }

        /// Uniform in `min..=max`.
        #[inline]
        pub fn between(&mut self, min: u64, max: u64) -> u64 {
            assert!(min <= max, "Rng::between({min}, {max})");
            let span = max - min;
            if span == u64::MAX {
                return self.next_u64();
            }
            min + self.below(span + 1)
        }

        /// Uniform in `min..=max`.
        #[inline]
        pub fn duration_between(&mut self, min: Duration, max: Duration) -> Duration {
            Duration::from_nanos(self.between(min.as_nanos(), max.as_nanos()))
        }

        /// True with probability `ppm` parts per million. Draws nothing when `ppm` is 0, so a
        /// fault switched off costs nothing and shifts no stream.
        #[inline]
        pub fn chance_ppm(&mut self, ppm: u32) -> bool {
            if ppm == 0 {
                return false;
            }
            if ppm >= PPM {
                return true;
            }
            self.below(u64::from(PPM)) < u64::from(ppm)
        }

        /// A uniformly chosen element, or `None` for an empty slice.
        pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
            if items.is_empty() {
                None
            } else {
                Some(&items[self.below(items.len() as u64) as usize])
            }
        }

        /// Fisher-Yates.
        pub fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
        }

        /// An exponentially distributed duration with the given mean, computed with `libm` (pure
        /// Rust, the same bits on every platform) and capped at 20 means.
        pub fn exponential(&mut self, mean: Duration) -> Duration {
            // Uniform in (0, 1]: 53 random bits, never zero.
            let unit = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let factor = (-libm::log(unit)).min(20.0);
            Duration::from_nanos((mean.as_nanos() as f64 * factor) as u64)
        }
    };
}

/// Stream ids of the engine and of scenarios. Node streams are `NODE_BASE + node << 32 + incarnation`.
pub mod stream {
    pub const NETWORK: u64 = 1;
    pub const PLAN: u64 = 2;
    pub const NODE_BASE: u64 = 1 << 62;
    /// Each node's disk draws from `DISK_BASE + node`, keyed `[start, k]` for the k-th
    /// operation of the incarnation that started at `start` (nanoseconds), or, for a crash's
    /// outcomes, by `CRASH_KEY | the crash's time in nanoseconds`.
    pub const DISK_BASE: u64 = 1 << 61;
    /// Each node's keyed draws (`Context::keyed_rng`) come from `KEYED_BASE + node`.
    pub const KEYED_BASE: u64 = 1 << 60;
    /// The keys of a disk's crash outcomes: `CRASH_KEY | the crash's time in nanoseconds` (a
    /// one-word key; the operations' keys have two words).
    pub const CRASH_KEY: u64 = 1 << 63;
}

/// A probability in parts per million: `Ppm(0)` never, `Ppm(1_000_000)` always.
pub const PPM: u32 = 1_000_000;

/// A deterministic random stream (ChaCha8): the plan's, or a node incarnation's.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
}

/// The draws of one key (`Keys::rng`): SplitMix64 from the key's mix. The same methods as
/// [`Rng`]; small (one word), so a per-event draw costs no ChaCha block and no copy.
#[derive(Clone, Debug)]
pub struct KeyedRng {
    state: u64,
}

impl KeyedRng {
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    draws!();
}

/// SplitMix64's finalizer: a bijective mix of 64 bits, every input bit reaching every output
/// bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Keyed draws of one stream of one seed: `keys.rng(key)` depends on the seed, the stream and
/// the key, and on nothing drawn before. For per-event draws: a message's loss, duplication
/// and latency keyed by its link and its number on that link, a disk operation's by its
/// number, a client operation's by its process and index; a run with one message, fault or
/// operation fewer draws the same for every other. Cheap: two SplitMix64 mixes to start, one
/// a draw (a ChaCha block costs tens).
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    base: u64,
}

impl Keys {
    pub fn new(seed: u64, stream: u64) -> Keys {
        Keys {
            base: mix(mix(seed ^ GOLDEN_GAMMA) ^ mix(stream.wrapping_add(GOLDEN_GAMMA))),
        }
    }

    /// The draws of `key`.
    #[inline]
    pub fn rng(self, key: [u64; 2]) -> KeyedRng {
        KeyedRng {
            state: mix(mix(self.base ^ key[0]) ^ key[1]),
        }
    }

    /// The draws of a key that fits one word: one mix fewer than [`Keys::rng`], for the
    /// engine's per-message and per-crash draws. A stream's keys are either all words or all
    /// pairs, but for a disk's: pairs for its operations, and one word with the top bit set
    /// (`stream::CRASH_KEY`) for its crashes.
    #[inline]
    pub fn rng_of_word(self, key: u64) -> KeyedRng {
        KeyedRng {
            state: mix(self.base ^ key),
        }
    }
}

impl Rng {
    /// The stream `stream` of `seed`. Public so that scenarios can derive their own streams
    /// (workload generators, plan expansion) from a run's seed.
    pub fn from_seed(seed: u64, stream: u64) -> Rng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Rng { inner }
    }

    /// The stream of one incarnation of one node.
    pub fn for_node(seed: u64, node: u32, incarnation: u32) -> Rng {
        Rng::from_seed(
            seed,
            stream::NODE_BASE + (u64::from(node) << 32) + u64::from(incarnation),
        )
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    draws!();
}

/// The node's stream as a `rand_core` 0.9 generator (rand 0.9 and what is built on it): hand
/// `ctx.rng()` to a library that takes an RNG, and its draws come from the seed.
impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest)
    }
}

/// The node's stream as a `rand_core` 0.6 generator (rand 0.8 and what is built on it).
impl rand_core_06::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.inner.fill_bytes(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first draws of every kind of stream for seed 7, and of the derived draws.
    fn first_draws() -> Vec<(&'static str, [u64; 3])> {
        let raw = |mut rng: Rng| [rng.next_u64(), rng.next_u64(), rng.next_u64()];
        let keyed = |mut rng: KeyedRng| [rng.next_u64(), rng.next_u64(), rng.next_u64()];
        let mut derived = Rng::from_seed(7, stream::PLAN);
        vec![
            (
                "network, link n1 -> n2, message 5",
                keyed(Keys::new(7, stream::NETWORK).rng_of_word(1 << 47 | 2 << 32 | 5)),
            ),
            ("plan", raw(Rng::from_seed(7, stream::PLAN))),
            ("node 3, incarnation 0", raw(Rng::for_node(7, 3, 0))),
            ("node 3, incarnation 1", raw(Rng::for_node(7, 3, 1))),
            (
                "disk of node 2, operation 0",
                keyed(Keys::new(7, stream::DISK_BASE + 2).rng_of_word(0)),
            ),
            (
                "disk of node 2, crash 1",
                keyed(Keys::new(7, stream::DISK_BASE + 2).rng_of_word(stream::CRASH_KEY | 1)),
            ),
            (
                "keyed draws of node 3, key [4, 5]",
                keyed(Keys::new(7, stream::KEYED_BASE + 3).rng([4, 5])),
            ),
            ("seed u64::MAX", raw(Rng::from_seed(u64::MAX, stream::PLAN))),
            (
                "below, between, exponential",
                [
                    derived.below(1000),
                    derived.between(5, 10),
                    derived.exponential(Duration::from_millis(1)).as_nanos(),
                ],
            ),
        ]
    }

    // Frozen vectors: every recorded seed (the corpus, replay lines in bug reports) means what
    // these draws say. A dependency bump or a change of derivation that shifts any stream
    // fails here, loudly, instead of silently changing what every seed replays.
    #[test]
    fn streams_are_frozen() {
        let expected: Vec<(&str, [u64; 3])> = vec![
            (
                "network, link n1 -> n2, message 5",
                [
                    2508400531741087646,
                    2726084898610657143,
                    11907853048252859815,
                ],
            ),
            (
                "plan",
                [
                    5536391431806027785,
                    6964474494658278128,
                    4595895246692405728,
                ],
            ),
            (
                "node 3, incarnation 0",
                [10956542015598088758, 13880706763752590752, 3269224736944475],
            ),
            (
                "node 3, incarnation 1",
                [
                    11405717211793314185,
                    12824745983102800002,
                    2548632268796094886,
                ],
            ),
            (
                "disk of node 2, operation 0",
                [
                    15542384721998596757,
                    3124514135941440518,
                    10559280022902578864,
                ],
            ),
            (
                "disk of node 2, crash 1",
                [
                    7977763101614989197,
                    7885076826319146511,
                    14937443551414828695,
                ],
            ),
            (
                "keyed draws of node 3, key [4, 5]",
                [
                    13583014837026782832,
                    15472017469849880140,
                    13833339785894498445,
                ],
            ),
            (
                "seed u64::MAX",
                [
                    8974239026358854344,
                    17548946576120809299,
                    5026337190657634486,
                ],
            ),
            ("below, between, exponential", [300, 7, 1389724]),
        ];
        assert_eq!(first_draws(), expected);
    }

    #[test]
    fn between_stays_in_bounds() {
        let mut rng = Rng::from_seed(1, 9);
        for _ in 0..10_000 {
            let x = rng.between(3, 7);
            assert!((3..=7).contains(&x));
        }
        assert_eq!(rng.between(5, 5), 5);
    }

    #[test]
    fn chance_extremes_draw_nothing() {
        let mut a = Rng::from_seed(1, 9);
        let mut b = Rng::from_seed(1, 9);
        assert!(!a.chance_ppm(0));
        assert!(a.chance_ppm(PPM));
        assert_eq!(a.next_u64(), b.next_u64());
    }

    // Keys that differ only in order, or by one in either part, draw differently; the same key
    // draws the same however often it is asked for.
    #[test]
    fn keys_draw_apart() {
        let keys = Keys::new(7, stream::NETWORK);
        let first = |key| keys.rng(key).next_u64();
        let draws = [first([1, 2]), first([2, 1]), first([1, 3]), first([0, 2])];
        for (i, a) in draws.iter().enumerate() {
            for b in &draws[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(first([1, 2]), draws[0]);
        assert_ne!(
            Keys::new(8, stream::NETWORK).rng([1, 2]).next_u64(),
            draws[0]
        );
    }

    // Goal: a library handed the node's stream through either rand_core generation draws
    // from the seed. Method: the same seed gives the same bytes through both traits, and the
    // stream's own draws.
    #[test]
    fn the_stream_serves_both_rand_core_generations() {
        let draw_09 = |rng: &mut dyn RngCore| {
            let mut bytes = [0u8; 12];
            rng.fill_bytes(&mut bytes);
            (rng.next_u64(), bytes)
        };
        let draw_06 = |rng: &mut dyn rand_core_06::RngCore| {
            let mut bytes = [0u8; 12];
            rng.try_fill_bytes(&mut bytes).unwrap();
            (rng.next_u64(), bytes)
        };
        let (a, b) = (
            draw_09(&mut Rng::for_node(5, 1, 0)),
            draw_06(&mut Rng::for_node(5, 1, 0)),
        );
        assert_eq!(a, b);
        assert_ne!(a, draw_09(&mut Rng::for_node(6, 1, 0)));
        let mut own = Rng::for_node(5, 1, 0);
        let mut through = Rng::for_node(5, 1, 0);
        assert_eq!(own.next_u64(), RngCore::next_u64(&mut through));
    }
}
