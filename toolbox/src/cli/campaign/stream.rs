//! The seeds of a campaign as a stream computed from its position, never materialised: item
//! `k` is scenario `k % targets` with the `k / targets`-th seed of this shard, so scenarios
//! interleave (a `--duration` campaign over every scenario reaches all of them) and memory does
//! not depend on the number of seeds.
//!
//! A shard `I/N` takes the seeds whose offset from the first seed is `I` modulo `N`: the `N`
//! shards are disjoint, together they are the whole campaign, and each one is spread over the
//! seed range and over every scenario, also when the stream has no end.

/// The `index`-th of `count` parts of a campaign (`--shard I/N`, `I` from 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}`: use I/N, the I-th of N shards, counting from 0");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 {
            return Err(format!("`{text}`: the number of shards must be positive"));
        }
        if index >= count {
            return Err(format!(
                "`{text}`: shards of {count} are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Stream {
    targets: u128,
    start: u64,
    /// Seeds in the whole campaign (up to 2^64).
    seeds: u128,
    shard: Shard,
}

impl Stream {
    /// `seeds` of `None` runs to the last seed, `u64::MAX`. `start + seeds` must not pass it.
    pub fn new(targets: usize, start: u64, seeds: Option<u64>, shard: Shard) -> Stream {
        let to_the_end = u128::from(u64::MAX - start) + 1;
        let seeds = seeds.map_or(to_the_end, u128::from);
        assert!(seeds <= to_the_end && targets > 0, "checked by the caller");
        Stream {
            targets: targets as u128,
            start,
            seeds,
            shard,
        }
    }

    /// The seeds this shard runs, per scenario.
    pub fn shard_seeds(&self) -> u128 {
        let (index, count) = (u128::from(self.shard.index), u128::from(self.shard.count));
        if index >= self.seeds {
            0
        } else {
            (self.seeds - index - 1) / count + 1
        }
    }

    /// Items (scenario, seed) in this shard.
    pub fn len(&self) -> u128 {
        self.shard_seeds() * self.targets
    }

    /// The `k`-th item: (scenario index, seed).
    pub fn item(&self, k: u128) -> Option<(usize, u64)> {
        if k >= self.len() {
            return None;
        }
        let target = (k % self.targets) as usize;
        let offset =
            u128::from(self.shard.index) + (k / self.targets) * u128::from(self.shard.count);
        let seed = u64::try_from(u128::from(self.start) + offset).expect("within the seeds");
        Some((target, seed))
    }

    /// The first and last seed of this shard, if it has any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let seeds = self.shard_seeds();
        let first = self.item(0)?.1;
        let last = self.item((seeds - 1) * self.targets)?.1;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(stream: &Stream) -> Vec<(usize, u64)> {
        (0..).map_while(|k| stream.item(k)).collect()
    }

    #[test]
    fn shards_are_disjoint_and_together_the_whole_campaign() {
        for (seeds, count) in [(10, 3), (3, 5), (7, 7), (1, 1), (12, 4)] {
            let whole = Stream::new(2, 100, Some(seeds), Shard::WHOLE);
            let mut all: Vec<(usize, u64)> = (0..count)
                .flat_map(|index| items(&Stream::new(2, 100, Some(seeds), Shard { index, count })))
                .collect();
            all.sort_unstable();
            let mut expected = items(&whole);
            assert_eq!(expected.len() as u64, 2 * seeds);
            expected.sort_unstable();
            assert_eq!(all, expected, "{seeds} seeds in {count} shards");
        }
    }

    #[test]
    fn scenarios_interleave_and_seeds_rise() {
        let stream = Stream::new(3, 5, Some(2), Shard::WHOLE);
        assert_eq!(
            items(&stream),
            [(0, 5), (1, 5), (2, 5), (0, 6), (1, 6), (2, 6)]
        );
        let shard = Stream::new(1, 0, Some(10), Shard::parse("1/4").unwrap());
        assert_eq!(items(&shard), [(0, 1), (0, 5), (0, 9)]);
        assert_eq!(shard.bounds(), Some((1, 9)));
    }

    #[test]
    fn an_endless_stream_reaches_the_last_seed_without_overflow() {
        let stream = Stream::new(13, 0, None, Shard::WHOLE);
        assert_eq!(stream.len(), 13 << 64);
        assert_eq!(stream.item((13 << 64) - 1), Some((12, u64::MAX)));
        assert_eq!(stream.item(13 << 64), None);
        let stream = Stream::new(2, u64::MAX, None, Shard { index: 1, count: 2 });
        assert_eq!(stream.len(), 0);
        assert_eq!(stream.bounds(), None);
        let stream = Stream::new(1, 1, Some(u64::MAX), Shard { index: 2, count: 3 });
        assert_eq!(stream.bounds(), Some((3, u64::MAX)));
    }

    #[test]
    fn shard_syntax() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "1", "a/2", "-1/2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
