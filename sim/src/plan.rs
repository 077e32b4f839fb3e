//! The run plan: what a seed expands into before the run starts. Swarm options (every fault
//! probability, zero allowed), the scripted fault schedule and the workload are explicit,
//! serializable data, so a plan can be dumped, edited (shrunk) and run again. Per-message draws
//! (latency, loss, duplication) still come from the seed at run time.

use crate::api::NodeId;
use crate::api::ops::Script;
use crate::limits;
use crate::net::{LinkConfig, Partition};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// A fault the engine can inject. Scheduled faults run at a global virtual time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Cuts the links the shape names. A new partition replaces the previous one.
    Partition(Partition),
    /// Restores every link a partition cut.
    Heal,
    /// The node stops: memory lost, timers gone, messages to it dropped.
    Crash(NodeId),
    /// A crashed node starts again as a fresh instance.
    Restart(NodeId),
    /// Crashes the node that leads at that moment (`Context::set_leading`), if one does;
    /// `episode` names it for the `RestartLeader` that ends the episode.
    CrashLeader {
        episode: u32,
    },
    /// Restarts the node the `CrashLeader` of `episode` crashed, if it crashed one.
    RestartLeader {
        episode: u32,
    },
    /// A node added down (`Simulation::add_node_down`) starts for the first time: a plan step
    /// rather than a fault, so a plan can grow its cluster.
    Start(NodeId),
    /// Stop-the-world pause: the node's events wait, nothing is lost.
    Pause(NodeId),
    Resume(NodeId),
    /// Messages arriving on the link are held back until `Release`.
    Hold {
        from: NodeId,
        to: NodeId,
    },
    /// Held messages are sent on again, each with a fresh latency.
    Release {
        from: NodeId,
        to: NodeId,
    },
    /// The node's clock jumps by `offset_nanos` (negative: backwards).
    ClockJump {
        node: NodeId,
        offset_nanos: i64,
    },
    /// The node's clock runs fast (positive) or slow by `drift_ppm` parts per million.
    ClockDrift {
        node: NodeId,
        drift_ppm: i32,
    },
    /// Overrides one directed link's behaviour; `None` restores the default.
    Link {
        from: NodeId,
        to: NodeId,
        config: Option<LinkConfig>,
    },
}

impl Fault {
    /// The kind, as counted in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition(_) => "partition",
            Fault::Heal => "heal",
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::CrashLeader { .. } => "crash-leader",
            Fault::RestartLeader { .. } => "restart-leader",
            Fault::Start(_) => "start",
            Fault::Pause(_) => "pause",
            Fault::Resume(_) => "resume",
            Fault::Hold { .. } => "hold",
            Fault::Release { .. } => "release",
            Fault::ClockJump { .. } => "clock-jump",
            Fault::ClockDrift { .. } => "clock-drift",
            Fault::Link { .. } => "link",
        }
    }

    /// The nodes the fault names.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Partition(partition) => partition.nodes(),
            Fault::Heal | Fault::CrashLeader { .. } | Fault::RestartLeader { .. } => Vec::new(),
            Fault::Crash(n)
            | Fault::Restart(n)
            | Fault::Start(n)
            | Fault::Pause(n)
            | Fault::Resume(n) => vec![*n],
            Fault::ClockJump { node, .. } | Fault::ClockDrift { node, .. } => vec![*node],
            Fault::Hold { from, to }
            | Fault::Release { from, to }
            | Fault::Link { from, to, .. } => {
                vec![*from, *to]
            }
        }
    }

    /// Checks the fault's own fields against the limits (which nodes exist is the scenario's
    /// to check); `field` names it in errors (`faults[3]`).
    pub fn validate(&self, field: &str) -> Result<(), String> {
        match self {
            Fault::ClockJump { offset_nanos, .. } => {
                let max = limits::CLOCK_JUMP_MAX;
                if offset_nanos.unsigned_abs() > max.as_nanos() {
                    return Err(format!(
                        "`{field}.offset_nanos` is {offset_nanos}; the limit is {} either way ({max})",
                        max.as_nanos()
                    ));
                }
                Ok(())
            }
            Fault::ClockDrift { drift_ppm, .. } => {
                let max = limits::DRIFT_PPM_MAX;
                if drift_ppm.unsigned_abs() > max.unsigned_abs() {
                    return Err(format!(
                        "`{field}.drift_ppm` is {drift_ppm}; the limit is {max} either way \
                         (-1000000 would stop the clock)"
                    ));
                }
                Ok(())
            }
            Fault::Link {
                config: Some(config),
                ..
            } => config.validate_at(&format!("{field}.config")),
            Fault::Partition(partition) => limits::count(
                &format!("{field}: the nodes the partition names"),
                partition.nodes().len() as u64,
                0,
                limits::NODES_MAX,
            ),
            _ => Ok(()),
        }
    }

    /// Repairs (heal, restart, resume, release) undo a fault, and a first start is none;
    /// reports count only faults.
    pub fn is_repair(&self) -> bool {
        matches!(
            self,
            Fault::Heal
                | Fault::Restart(_)
                | Fault::RestartLeader { .. }
                | Fault::Start(_)
                | Fault::Resume(_)
                | Fault::Release { .. }
        )
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ScheduledFault {
    pub at: Instant,
    pub fault: Fault,
}

/// The options a seed draws for a run (TigerBeetle's swarm testing): each probability and each
/// fault kind's weight may be zero, so some seeds test a quiet system and others a storm.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Swarm {
    /// Node-to-node links.
    pub link: LinkConfig,
    /// Links with a client at either end: reliable unless a scenario says otherwise.
    pub client_link: LinkConfig,
    /// Mean time between the starts of scripted fault episodes.
    pub fault_gap_mean: Duration,
    /// Relative weights of the episode kinds; zero switches a kind off.
    pub partition_weight: u32,
    pub crash_weight: u32,
    pub pause_weight: u32,
    pub clock_weight: u32,
    pub hold_weight: u32,
    /// Crashes of whichever node leads at the time (`Fault::CrashLeader`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leader_crash_weight: u32,
    /// Every node's disk.
    #[serde(default)]
    pub disk: crate::disk::DiskConfig,
}

impl Swarm {
    /// Checks the links, the disk and the fault gap against the limits.
    pub fn validate(&self) -> Result<(), String> {
        self.link.validate_at("swarm.link")?;
        self.client_link.validate_at("swarm.client_link")?;
        limits::duration(
            "swarm.fault_gap_mean",
            self.fault_gap_mean,
            limits::LATENCY_MAX,
        )?;
        let disk = &self.disk;
        disk.latency.validate_at("swarm.disk.latency")?;
        disk.sync_latency.validate_at("swarm.disk.sync_latency")?;
        limits::count(
            "swarm.disk.sector_bytes",
            u64::from(disk.sector_bytes),
            1,
            u64::from(limits::SECTOR_BYTES_MAX),
        )?;
        disk.validate().map_err(|e| format!("swarm.disk: {e}"))
    }

    /// No faults at all: the given links and no scripted episodes.
    pub fn quiet(link: LinkConfig, client_link: LinkConfig) -> Swarm {
        Swarm {
            link,
            client_link,
            fault_gap_mean: Duration::from_secs(1),
            partition_weight: 0,
            crash_weight: 0,
            pause_weight: 0,
            clock_weight: 0,
            hold_weight: 0,
            leader_crash_weight: 0,
            disk: crate::disk::DiskConfig::default(),
        }
    }
}

fn is_zero(weight: &u32) -> bool {
    *weight == 0
}

/// Zero with probability 1/4, otherwise uniform in `1..=max_ppm`: swarm testing wants both
/// fault-free and faulty seeds.
pub fn draw_ppm(rng: &mut Rng, max_ppm: u32) -> u32 {
    if max_ppm == 0 || rng.below(4) == 0 {
        0
    } else {
        rng.between(1, u64::from(max_ppm)) as u32
    }
}

/// A plan: everything a run is. The per-event draws (a message's fate, a disk operation's, a
/// client operation's content and think time) are the seed's, each keyed by what it is for, so
/// a plan changed in one place draws the same everywhere else.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub scenario: String,
    pub seed: u64,
    pub bug: Option<String>,
    pub swarm: Swarm,
    /// Faults during the safety phase, sorted by time.
    pub faults: Vec<ScheduledFault>,
    /// The safety phase lasts this long; then every fault is healed.
    pub safety_duration: Duration,
    /// The liveness phase: the scenario's progress condition must hold by its end.
    pub liveness_duration: Duration,
    /// Scenario-specific workload parameters.
    pub workload: serde_json::Value,
    /// Which client operations run and which are written out (`faultline_api::ops`); empty,
    /// and left out of the file, when every drawn operation runs.
    #[serde(default, skip_serializing_if = "Script::is_empty")]
    pub operations: Script,
}

impl Plan {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan serializes")
    }

    /// Parses a plan and checks it against the limits ([`Plan::validate`]); the error names
    /// the line and column, or the field and its limit.
    pub fn from_json(text: &str) -> Result<Plan, String> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let plan: Plan =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| field_error(e, ""))?;
        deserializer.end().map_err(|e| e.to_string())?;
        plan.validate()?;
        Ok(plan)
    }

    /// Checks everything but the workload (which its scenario checks) against the limits of
    /// [`crate::limits`]: phase lengths, the swarm's links and disk, every scheduled fault.
    pub fn validate(&self) -> Result<(), String> {
        limits::duration("safety_duration", self.safety_duration, limits::PHASE_MAX)?;
        limits::duration(
            "liveness_duration",
            self.liveness_duration,
            limits::PHASE_MAX,
        )?;
        self.swarm.validate()?;
        limits::count(
            "faults",
            self.faults.len() as u64,
            0,
            limits::FAULTS_MAX as u64,
        )?;
        for (index, scheduled) in self.faults.iter().enumerate() {
            scheduled
                .fault
                .validate(&format!("faults[{index}]"))
                .map_err(|e| format!("{e} (the fault at {})", scheduled.at))?;
        }
        for pair in self.faults.windows(2) {
            if pair[1].at < pair[0].at {
                return Err(format!(
                    "faults must be sorted by time: {} comes after {}",
                    pair[1].at, pair[0].at
                ));
            }
        }
        limits::count(
            "operations: its ranges, written and pinned operations",
            self.operations.entries(),
            0,
            limits::SCRIPT_ENTRIES_MAX,
        )?;
        self.operations.validate()
    }
}

/// A parse error that names the field where it happened (`swarm.link.loss_ppm`), under
/// `prefix` (`workload.`); syntax errors, which have no field, keep only their line.
pub fn field_error<E: std::fmt::Display>(
    error: serde_path_to_error::Error<E>,
    prefix: &str,
) -> String {
    let field = match error.path().to_string() {
        field if field.contains('?') => return error.into_inner().to_string(),
        field if field == "." => prefix.trim_end_matches('.').to_string(),
        field => format!("{prefix}{field}"),
    };
    if field.is_empty() {
        return error.into_inner().to_string();
    }
    format!("`{field}`: {}", error.into_inner())
}

/// How many servers may be down, paused or cut off at once: the faults a protocol is meant to
/// tolerate (a minority, for a quorum protocol).
#[derive(Clone, Copy, Debug)]
pub struct FaultBudget {
    pub faulty_nodes_max: usize,
}

struct Episode {
    end: Instant,
    /// The nodes it makes faulty; a leader crash's node is known only when it runs.
    nodes: Vec<NodeId>,
    is_leader_crash: bool,
    is_partition: bool,
}

/// A server as a fault schedule sees it: no fault names it before it starts (a node that joins
/// late, or one started by a plan step).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Server {
    pub node: NodeId,
    pub starts_at: Instant,
}

impl Server {
    /// Servers `n0` to `n{count-1}`, all started with the run.
    pub fn first(count: u32) -> Vec<Server> {
        (0..count)
            .map(|n| Server {
                node: NodeId(n),
                starts_at: Instant::ZERO,
            })
            .collect()
    }
}

/// Draws a fault schedule for `servers` over `duration` from the swarm's weights, never
/// letting more than the budget's nodes be faulty at once, and never naming a server before it
/// starts. Each episode (a partition, a crash, a pause, a held link) starts at a random time
/// and ends with its repair; episodes still open at the end are healed by the liveness phase.
pub fn generate_schedule(
    swarm: &Swarm,
    servers: &[Server],
    budget: FaultBudget,
    duration: Duration,
    rng: &mut Rng,
) -> Vec<ScheduledFault> {
    let mut drawing = Drawing {
        servers: Vec::new(),
        budget,
        end: Instant::ZERO + duration,
        weights: [
            swarm.partition_weight,
            swarm.crash_weight,
            swarm.pause_weight,
            swarm.clock_weight,
            swarm.hold_weight,
            swarm.leader_crash_weight,
        ],
        faults: Vec::new(),
        active: Vec::new(),
        held: Vec::new(),
    };
    if drawing.weights.iter().all(|&w| w == 0) || servers.is_empty() {
        return Vec::new();
    }
    let mut now = Instant::ZERO;
    // A bound on the loop, as on everything: a tiny gap cannot make it run away.
    for _ in 0..10_000 {
        now += rng.exponential(swarm.fault_gap_mean) + Duration::from_millis(1);
        if now >= drawing.end {
            break;
        }
        let length = drawing.forget_ended(now, swarm, rng);
        if drawing.servers.len() < servers.len() {
            let started = servers.iter().filter(|s| s.starts_at <= now);
            drawing.servers = started.map(|s| s.node).collect();
        }
        if !drawing.servers.is_empty() {
            drawing.draw_episode(now, now + length, rng);
        }
    }
    drawing.faults.sort_by_key(|f| f.at);
    drawing.faults
}

/// A schedule being drawn: the faults so far and the episodes still open.
struct Drawing {
    /// The servers started by the time being drawn.
    servers: Vec<NodeId>,
    budget: FaultBudget,
    end: Instant,
    /// Partition, crash, pause, clock, hold, leader crash.
    weights: [u32; 6],
    faults: Vec<ScheduledFault>,
    active: Vec<Episode>,
    held: Vec<(NodeId, NodeId, Instant)>,
}

impl Drawing {
    /// Forgets the episodes that ended by `now` and draws the next episode's length.
    fn forget_ended(&mut self, now: Instant, swarm: &Swarm, rng: &mut Rng) -> Duration {
        self.active.retain(|episode| episode.end > now);
        self.held.retain(|&(_, _, end)| end > now);
        rng.exponential(swarm.fault_gap_mean) + Duration::from_millis(10)
    }

    /// Draws a fault kind by weight and adds an episode of it, if the budget allows.
    fn draw_episode(&mut self, now: Instant, episode_end: Instant, rng: &mut Rng) {
        let faulty: Vec<NodeId> = self
            .active
            .iter()
            .flat_map(|e| e.nodes.iter().copied())
            .collect();
        // A leader crash takes a place in the budget, whichever node it turns out to be.
        let leaders = self.active.iter().filter(|e| e.is_leader_crash).count();
        let room = self
            .budget
            .faulty_nodes_max
            .saturating_sub(faulty.len() + leaders);
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let mut pick = rng.below(total);
        let kind = self
            .weights
            .iter()
            .position(|&w| match pick.checked_sub(u64::from(w)) {
                Some(rest) => {
                    pick = rest;
                    false
                }
                None => true,
            })
            .expect("pick is below the total weight");
        let servers = &self.servers;
        match kind {
            0 if room > 0 && !self.active.iter().any(|e| e.is_partition) && servers.len() > 1 => {
                self.partition(now, episode_end, room, faulty.len() + leaders, rng)
            }
            1 | 2 if room > 0 && servers.iter().any(|n| !faulty.contains(n)) => {
                let healthy: Vec<NodeId> = servers
                    .iter()
                    .copied()
                    .filter(|n| !faulty.contains(n))
                    .collect();
                let node = *rng.choose(&healthy).expect("healthy is not empty");
                let (fault, repair) = if kind == 1 {
                    (Fault::Crash(node), Fault::Restart(node))
                } else {
                    (Fault::Pause(node), Fault::Resume(node))
                };
                self.add(now, fault, Some((repair, episode_end)));
                self.active.push(Episode {
                    end: episode_end,
                    nodes: vec![node],
                    is_leader_crash: false,
                    is_partition: false,
                });
            }
            3 => self.clock(now, rng),
            5 if room > 0 => {
                let episode = self.faults.len() as u32;
                self.add(
                    now,
                    Fault::CrashLeader { episode },
                    Some((Fault::RestartLeader { episode }, episode_end)),
                );
                self.active.push(Episode {
                    end: episode_end,
                    nodes: Vec::new(),
                    is_leader_crash: true,
                    is_partition: false,
                });
            }
            4 if servers.len() > 1 => self.hold(now, episode_end, rng),
            _ => {}
        }
    }

    /// Adds `fault` at `now`, and its repair if that comes before the end.
    fn add(&mut self, now: Instant, fault: Fault, repair: Option<(Fault, Instant)>) {
        self.faults.push(ScheduledFault { at: now, fault });
        if let Some((repair, at)) = repair
            && at < self.end
        {
            self.faults.push(ScheduledFault { at, fault: repair });
        }
    }

    fn partition(
        &mut self,
        now: Instant,
        episode_end: Instant,
        room: usize,
        faulty: usize,
        rng: &mut Rng,
    ) {
        let partition = draw_partition(&self.servers, room, rng);
        // Counted in full, even where a node is also down: the budget is checked against the
        // sum of episodes, which is never less than their union.
        let nodes = isolated_nodes(&partition);
        if partition.isolated_count() + faulty <= self.budget.faulty_nodes_max {
            self.add(
                now,
                Fault::Partition(partition),
                Some((Fault::Heal, episode_end)),
            );
            self.active.push(Episode {
                end: episode_end,
                nodes,
                is_leader_crash: false,
                is_partition: true,
            });
        }
    }

    fn clock(&mut self, now: Instant, rng: &mut Rng) {
        let node = *rng.choose(&self.servers).expect("servers is not empty");
        let fault = if rng.below(2) == 0 {
            // Up to a second either way; backwards jumps are the interesting ones.
            let offset = rng.between(0, 2_000_000_000) as i64 - 1_000_000_000;
            Fault::ClockJump {
                node,
                offset_nanos: offset,
            }
        } else {
            let drift = rng.between(0, 2_000) as i32 - 1_000;
            Fault::ClockDrift {
                node,
                drift_ppm: drift,
            }
        };
        self.add(now, fault, None);
    }

    fn hold(&mut self, now: Instant, episode_end: Instant, rng: &mut Rng) {
        let from = *rng.choose(&self.servers).expect("servers is not empty");
        let others: Vec<NodeId> = self
            .servers
            .iter()
            .copied()
            .filter(|&n| n != from)
            .collect();
        let to = *rng.choose(&others).expect("at least two servers");
        // A link already held keeps its one hold; a second would end at the first release.
        if !self.held.iter().any(|&(f, t, _)| (f, t) == (from, to)) {
            let release = Fault::Release { from, to };
            self.add(now, Fault::Hold { from, to }, Some((release, episode_end)));
            self.held.push((from, to, episode_end));
        }
    }
}

/// The nodes outside the largest side of a partition.
fn isolated_nodes(partition: &Partition) -> Vec<NodeId> {
    match partition {
        Partition::Groups(groups) => {
            let largest = groups
                .iter()
                .enumerate()
                .max_by_key(|(i, g)| (g.len(), usize::MAX - i))
                .map(|(i, _)| i)
                .unwrap_or(0);
            groups
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != largest)
                .flat_map(|(_, g)| g.iter().copied())
                .collect()
        }
        Partition::Bridge { left, right, .. } => {
            if left.len() <= right.len() {
                left.clone()
            } else {
                right.clone()
            }
        }
        Partition::OneWay { from, to } => {
            if from.len() <= to.len() {
                from.clone()
            } else {
                to.clone()
            }
        }
    }
}

/// A random partition shape whose cut-off side has at most `room` nodes: isolate one node,
/// majority/minority, random groups, a bridge, or a one-way cut.
pub fn draw_partition(servers: &[NodeId], room: usize, rng: &mut Rng) -> Partition {
    assert!(servers.len() >= 2);
    assert!(room >= 1);
    let mut shuffled = servers.to_vec();
    rng.shuffle(&mut shuffled);
    let n = shuffled.len();
    // The cut-off side: at most `room`, and a strict minority when there are 3 or more nodes.
    let minority_max = room.min(if n >= 3 { (n - 1) / 2 } else { 1 }).max(1);
    let minority = rng.between(1, minority_max as u64) as usize;
    match rng.below(5) {
        0 => Partition::Groups(vec![shuffled[..1].to_vec(), shuffled[1..].to_vec()]),
        1 if n >= 3 && minority >= 2 => {
            // Three groups: the minority split in two.
            let cut = rng.between(1, minority as u64 - 1) as usize;
            Partition::Groups(vec![
                shuffled[..cut].to_vec(),
                shuffled[cut..minority].to_vec(),
                shuffled[minority..].to_vec(),
            ])
        }
        2 if n >= 3 => {
            let bridge = shuffled[0];
            let rest = &shuffled[1..];
            let side = minority.min(rest.len() - 1).max(1);
            Partition::Bridge {
                left: rest[..side].to_vec(),
                right: rest[side..].to_vec(),
                bridge,
            }
        }
        3 => Partition::OneWay {
            from: shuffled[..minority].to_vec(),
            to: shuffled[minority..].to_vec(),
        },
        _ => Partition::Groups(vec![
            shuffled[..minority].to_vec(),
            shuffled[minority..].to_vec(),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Latency;

    fn swarm() -> Swarm {
        let link = LinkConfig::reliable(Latency::Constant(Duration::from_millis(1)));
        Swarm {
            partition_weight: 3,
            crash_weight: 2,
            pause_weight: 1,
            clock_weight: 1,
            hold_weight: 1,
            fault_gap_mean: Duration::from_millis(300),
            ..Swarm::quiet(link.clone(), link)
        }
    }

    // Goal: the schedule never has more faulty servers at once than the budget allows.
    // Method: replay each generated schedule and count crashed, paused and cut-off nodes.
    #[test]
    fn schedules_stay_within_budget() {
        let servers = Server::first(5);
        for seed in 0..200 {
            let budget = FaultBudget {
                faulty_nodes_max: 1 + (seed as usize % 2),
            };
            let mut rng = Rng::from_seed(seed, 1);
            let faults = generate_schedule(
                &swarm(),
                &servers,
                budget,
                Duration::from_secs(20),
                &mut rng,
            );
            assert!(!faults.is_empty());
            let mut down = std::collections::BTreeSet::new();
            let mut isolated = 0;
            for f in &faults {
                match &f.fault {
                    Fault::Crash(n) | Fault::Pause(n) => assert!(down.insert(*n)),
                    Fault::Restart(n) | Fault::Resume(n) => assert!(down.remove(n)),
                    Fault::Partition(p) => isolated = p.isolated_count(),
                    Fault::Heal => isolated = 0,
                    _ => {}
                }
                assert!(
                    down.len() + isolated <= budget.faulty_nodes_max,
                    "seed {seed}: {} down, {isolated} isolated at {}",
                    down.len(),
                    f.at
                );
            }
        }
    }

    // Goal: a plan is checked against every limit, and the error names the field. Method:
    // break one field at a time of a valid plan.
    #[test]
    fn plans_are_checked_against_the_limits() {
        let valid = Plan {
            scenario: "test".into(),
            seed: 3,
            bug: None,
            swarm: swarm(),
            faults: Vec::new(),
            safety_duration: Duration::from_secs(5),
            liveness_duration: Duration::from_secs(2),
            workload: serde_json::json!({}),
            operations: Script::default(),
        };
        assert_eq!(valid.validate(), Ok(()));
        let fault = |fault: Fault| ScheduledFault {
            at: Instant::ZERO,
            fault,
        };
        let hour = Duration::from_secs(3_600);
        type Edit<'a> = Box<dyn Fn(&mut Plan) + 'a>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|p| p.liveness_duration = hour + Duration::from_nanos(1)),
                "`liveness_duration`",
            ),
            (
                Box::new(|p| p.swarm.fault_gap_mean = hour),
                "`swarm.fault_gap_mean` is 3600s; the limit is 60s",
            ),
            (
                Box::new(|p| p.swarm.link.loss_ppm = 1_000_001),
                "`swarm.link.loss_ppm`",
            ),
            (
                Box::new(|p| {
                    p.swarm.client_link.latency = Latency::Uniform {
                        min: Duration::from_secs(2),
                        max: Duration::from_secs(1),
                    }
                }),
                "`swarm.client_link.latency`: the range 2s..1s is inverted",
            ),
            (
                Box::new(|p| p.swarm.disk.sync_latency = Latency::Constant(hour)),
                "`swarm.disk.sync_latency.constant` is 3600s; the limit is 60s",
            ),
            (
                Box::new(|p| p.swarm.disk.sector_bytes = u32::MAX),
                "`swarm.disk.sector_bytes`",
            ),
            (
                Box::new(move |p| {
                    p.faults = vec![fault(Fault::ClockJump {
                        node: NodeId(0),
                        offset_nanos: i64::MIN,
                    })]
                }),
                "`faults[0].offset_nanos` is -9223372036854775808",
            ),
            (
                Box::new(move |p| {
                    p.faults = vec![fault(Fault::ClockDrift {
                        node: NodeId(0),
                        drift_ppm: -1_000_000,
                    })]
                }),
                "`faults[0].drift_ppm` is -1000000",
            ),
            (
                Box::new(move |p| {
                    p.faults = vec![fault(Fault::Link {
                        from: NodeId(0),
                        to: NodeId(1),
                        config: Some(LinkConfig::reliable(Latency::Constant(hour))),
                    })]
                }),
                "`faults[0].config.latency.constant`",
            ),
            (
                Box::new(move |p| {
                    p.faults = vec![fault(Fault::Heal); crate::limits::FAULTS_MAX + 1]
                }),
                "`faults` is 100001; the limit is 100000",
            ),
        ];
        for (edit, expected) in cases {
            let mut plan = valid.clone();
            edit(&mut plan);
            let error = plan.validate().unwrap_err();
            assert!(error.contains(expected), "{error}");
            // And a plan file says the same.
            let error = Plan::from_json(&plan.to_json()).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    // Goal: a generated schedule never names a server before it starts. Method: one server of
    // four joins at 5 s, one only at 15 s; no fault names either before then, and some fault
    // names the first after it joined (so the check is not vacuous).
    #[test]
    fn schedules_leave_servers_alone_until_they_start() {
        let mut servers = Server::first(2);
        let late = [(NodeId(2), 5), (NodeId(3), 15)];
        for (node, at) in late {
            let starts_at = Instant::ZERO + Duration::from_secs(at);
            servers.push(Server { node, starts_at });
        }
        let mut named_after_joining = false;
        for seed in 0..50 {
            let budget = FaultBudget {
                faulty_nodes_max: 2,
            };
            let mut rng = Rng::from_seed(seed, 1);
            let faults = generate_schedule(
                &swarm(),
                &servers,
                budget,
                Duration::from_secs(20),
                &mut rng,
            );
            for f in &faults {
                for (node, at) in late {
                    if f.fault.nodes().contains(&node) {
                        let joined = Instant::ZERO + Duration::from_secs(at);
                        assert!(f.at >= joined, "seed {seed}: {f:?} before {node} started");
                        named_after_joining |= node == NodeId(2);
                    }
                }
            }
        }
        assert!(named_after_joining);
    }

    #[test]
    fn plan_round_trips_through_json() {
        let mut rng = Rng::from_seed(3, 1);
        let servers = Server::first(3);
        let faults = generate_schedule(
            &swarm(),
            &servers,
            FaultBudget {
                faulty_nodes_max: 1,
            },
            Duration::from_secs(5),
            &mut rng,
        );
        let plan = Plan {
            scenario: "test".into(),
            seed: 3,
            bug: None,
            swarm: swarm(),
            faults,
            safety_duration: Duration::from_secs(5),
            liveness_duration: Duration::from_secs(2),
            workload: serde_json::json!({"rate": 10}),
            operations: Script::default(),
        };
        assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
    }
}
