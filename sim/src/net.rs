//! The simulated network's configuration: latency distributions, loss, duplication and
//! bounded queues per link, and the shapes a partition can take.

use crate::api::NodeId;
use crate::limits;
use crate::rng::KeyedRng;
use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// How long a message takes on a link. Reordering comes from the spread.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Latency {
    Constant(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// `floor` plus an exponential with mean `mean` (TigerBeetle's path delay).
    Exponential {
        floor: Duration,
        mean: Duration,
    },
    /// Mostly `fast`, sometimes `slow` (FoundationDB's 99.9% fast / 0.1% slow tail).
    Tail {
        fast_min: Duration,
        fast_max: Duration,
        slow_min: Duration,
        slow_max: Duration,
        slow_ppm: u32,
    },
}

impl Latency {
    pub fn sample(&self, rng: &mut KeyedRng) -> Duration {
        match *self {
            Latency::Constant(latency) => latency,
            Latency::Uniform { min, max } => rng.duration_between(min, max),
            Latency::Exponential { floor, mean } => floor + rng.exponential(mean),
            Latency::Tail {
                fast_min,
                fast_max,
                slow_min,
                slow_max,
                slow_ppm,
            } => {
                if rng.chance_ppm(slow_ppm) {
                    rng.duration_between(slow_min, slow_max)
                } else {
                    rng.duration_between(fast_min, fast_max)
                }
            }
        }
    }

    /// Rejects inverted ranges, which would otherwise panic at the first draw, and latencies
    /// above [`limits::LATENCY_MAX`].
    pub fn validate(&self) -> Result<(), String> {
        self.validate_at("latency")
    }

    /// As [`Latency::validate`]; errors name the fields under `field` (`swarm.link.latency`).
    pub fn validate_at(&self, field: &str) -> Result<(), String> {
        let at_most = |name: &str, value: Duration| {
            limits::duration(&format!("{field}.{name}"), value, limits::LATENCY_MAX)
        };
        let ordered = |(min_name, min): (&str, Duration), (max_name, max): (&str, Duration)| {
            at_most(min_name, min)?;
            at_most(max_name, max)?;
            if min <= max {
                Ok(())
            } else {
                Err(format!(
                    "`{field}`: the range {min}..{max} is inverted ({min_name} is above {max_name})"
                ))
            }
        };
        match *self {
            Latency::Constant(latency) => at_most("constant", latency),
            Latency::Exponential { floor, mean } => {
                at_most("exponential.floor", floor).and(at_most("exponential.mean", mean))
            }
            Latency::Uniform { min, max } => ordered(("uniform.min", min), ("uniform.max", max)),
            Latency::Tail {
                fast_min,
                fast_max,
                slow_min,
                slow_max,
                slow_ppm,
            } => {
                ordered(("tail.fast_min", fast_min), ("tail.fast_max", fast_max))?;
                ordered(("tail.slow_min", slow_min), ("tail.slow_max", slow_max))?;
                limits::ppm(&format!("{field}.tail.slow_ppm"), slow_ppm)
            }
        }
    }
}

/// The behaviour of one directed link.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LinkConfig {
    pub latency: Latency,
    /// Probability that a message is lost, in parts per million.
    pub loss_ppm: u32,
    /// Probability that a message is delivered twice, in parts per million.
    pub duplicate_ppm: u32,
    /// Messages in flight on the link at most; more are dropped as `queue-full`.
    pub queue_capacity: u32,
}

impl LinkConfig {
    /// A reliable link with the given latency.
    pub fn reliable(latency: Latency) -> LinkConfig {
        LinkConfig {
            latency,
            loss_ppm: 0,
            duplicate_ppm: 0,
            queue_capacity: u32::MAX,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.validate_at("link")
    }

    /// As [`LinkConfig::validate`]; errors name the fields under `field` (`swarm.link`).
    pub fn validate_at(&self, field: &str) -> Result<(), String> {
        self.latency.validate_at(&format!("{field}.latency"))?;
        limits::ppm(&format!("{field}.loss_ppm"), self.loss_ppm)?;
        limits::ppm(&format!("{field}.duplicate_ppm"), self.duplicate_ppm)
    }
}

/// Which links a partition cuts. Nodes a shape does not name (clients, usually) keep all
/// their links.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partition {
    /// Two or more groups; links between different groups are cut both ways. Isolating one
    /// node and majority/minority splits are groups too.
    Groups(Vec<Vec<NodeId>>),
    /// `left` and `right` cannot talk to each other, but both talk to `bridge`.
    Bridge {
        left: Vec<NodeId>,
        right: Vec<NodeId>,
        bridge: NodeId,
    },
    /// Messages from `from` to `to` are cut; `to` still reaches `from` (A hears B, B does not
    /// hear A).
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
}

impl Partition {
    /// Every directed link (from, to) the partition cuts.
    pub fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut links = Vec::new();
        let mut cut_between = |a: &[NodeId], b: &[NodeId], both_ways: bool| {
            for &x in a {
                for &y in b {
                    links.push((x, y));
                    if both_ways {
                        links.push((y, x));
                    }
                }
            }
        };
        match self {
            Partition::Groups(groups) => {
                for (i, a) in groups.iter().enumerate() {
                    for b in &groups[i + 1..] {
                        cut_between(a, b, true);
                    }
                }
            }
            Partition::Bridge { left, right, .. } => cut_between(left, right, true),
            Partition::OneWay { from, to } => cut_between(from, to, false),
        }
        links
    }

    /// How many nodes end up cut off from the largest side, for the fault budget.
    pub fn isolated_count(&self) -> usize {
        match self {
            Partition::Groups(groups) => {
                let total: usize = groups.iter().map(Vec::len).sum();
                total - groups.iter().map(Vec::len).max().unwrap_or(0)
            }
            Partition::Bridge { left, right, .. } => left.len().min(right.len()),
            Partition::OneWay { from, to } => from.len().min(to.len()),
        }
    }

    /// Every node the shape names, for validation.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Partition::Groups(groups) => groups.concat(),
            Partition::Bridge {
                left,
                right,
                bridge,
            } => {
                let mut nodes = [left.as_slice(), right.as_slice()].concat();
                nodes.push(*bridge);
                nodes
            }
            Partition::OneWay { from, to } => [from.as_slice(), to.as_slice()].concat(),
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |nodes: &[NodeId]| {
            nodes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Partition::Groups(groups) => {
                let groups: Vec<String> =
                    groups.iter().map(|g| format!("{{{}}}", list(g))).collect();
                write!(f, "groups {}", groups.join(" | "))
            }
            Partition::Bridge {
                left,
                right,
                bridge,
            } => write!(
                f,
                "bridge {{{}}} - {bridge} - {{{}}}",
                list(left),
                list(right)
            ),
            Partition::OneWay { from, to } => {
                write!(f, "one-way {{{}}} -/-> {{{}}}", list(from), list(to))
            }
        }
    }
}
