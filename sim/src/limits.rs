//! The limits every plan is checked against before it runs. A plan is user input (edited by
//! hand, or written by another tool), so an absurd number must be an error that names the field
//! and its limit, never an allocation that aborts, a run that never ends or a clock that stops.
//!
//! The limits are generous: each is at least ten times what any built-in scenario uses. They
//! bound each field on its own; a plan at several limits at once is a long run, which the
//! engine's event limit still bounds.
//!
//! | what | limit |
//! |---|---|
//! | `safety_duration`, `liveness_duration` | at most [`PHASE_MAX`] (1 hour of virtual time) each |
//! | scheduled `faults` | at most [`FAULTS_MAX`] |
//! | a clock jump | at most [`CLOCK_JUMP_MAX`] either way; a drift within ±[`DRIFT_PPM_MAX`] ppm (above -1000000: a clock cannot stop) |
//! | every latency (links, client links, disks, link faults) and `fault_gap_mean` | at most [`LATENCY_MAX`] (1 minute) |
//! | probabilities (`*_ppm`) | at most 1000000 |
//! | disk `sector_bytes` | 1 to [`SECTOR_BYTES_MAX`] (1 MiB) |
//! | nodes (servers and clients together) in a plan's workload | at most [`WORKLOAD_NODES_MAX`] |
//! | nodes in a simulation (the engine's own bound) | at most [`NODES_MAX`] |
//! | client processes, requests in flight, server workers | 1 to [`PROCESSES_MAX`] |
//! | queues (`queue_capacity` of a server), keys | at most [`QUEUE_MAX`] |
//! | workload timeouts and deadlines | [`TIMEOUT_MIN`] to [`PHASE_MAX`]: a shorter timeout fires so often that virtual time stops advancing |
//! | think times | [`TIMEOUT_MIN`] to [`PHASE_MAX`]: a client whose calls fail at once (an open breaker) would otherwise loop without time passing |
//! | other workload durations | at most [`PHASE_MAX`]; service times at most [`LATENCY_MAX`] |
//! | rates (operations a second) | 1 to [`RATE_MAX`] |
//! | plan files | at most [`PLAN_BYTES_MAX`] (64 MiB) |
//! | a plan's `operations` (ranges, written and pinned operations) | at most [`SCRIPT_ENTRIES_MAX`] |
//! | observations a run keeps (the engine's own bound) | at most [`OBSERVATIONS_MAX`]; past it the run halts, which reports as a liveness failure naming the limit |

use crate::time::Duration;

/// Each phase of a run, in virtual time.
pub const PHASE_MAX: Duration = Duration::from_secs(3_600);
/// Scheduled faults in one plan (generated schedules stop at 10,000 episodes).
pub const FAULTS_MAX: usize = 100_000;
/// A clock jump, either way.
pub const CLOCK_JUMP_MAX: Duration = Duration::from_secs(3_600);
/// A clock drift, either way, in parts per million (1000000: twice as fast).
pub const DRIFT_PPM_MAX: i32 = 999_999;
/// Any latency of a link or a disk, and the mean gap between fault episodes.
pub const LATENCY_MAX: Duration = Duration::from_secs(60);
/// Bytes in a disk sector.
pub const SECTOR_BYTES_MAX: u32 = 1 << 20;
/// Nodes in a run: servers and clients. Memory is O(nodes) (link state is kept only for links
/// that differ from their default), about a kilobyte a node before its protocol's state.
pub const NODES_MAX: u64 = 20_000;
/// Nodes a plan's workload may ask for: the built-in scenarios' cost grows faster than their
/// node count (flooding broadcast sends n² messages a value), so plans stay well below what the
/// engine itself allows.
pub const WORKLOAD_NODES_MAX: u64 = 1_000;
/// Client processes in a run, requests in flight, workers of a server.
pub const PROCESSES_MAX: u64 = 10_000;
/// A server's queue, a workload's keys.
pub const QUEUE_MAX: u64 = 1_000_000;
/// The shortest workload timeout.
pub const TIMEOUT_MIN: Duration = Duration::from_millis(1);
/// Operations a second.
pub const RATE_MAX: u64 = 100_000;
/// A plan file.
pub const PLAN_BYTES_MAX: u64 = 64 << 20;
/// Entries of a plan's operations script: ranges of operations that run, operations written out.
pub const SCRIPT_ENTRIES_MAX: u64 = 1_000_000;
/// Observations one run keeps for its end-of-run checks (`Simulation::observations`): a
/// protocol that observes in a tight loop halts the run instead of exhausting memory. The
/// built-in scenarios keep at most a few hundred thousand.
pub const OBSERVATIONS_MAX: usize = 20_000_000;

/// `value` of `field` lies in `min..=max`; the error names the field and the limit.
pub fn count(field: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if value < min {
        return Err(format!("`{field}` is {value}; it must be at least {min}"));
    }
    if value > max {
        return Err(format!("`{field}` is {value}; the limit is {max}"));
    }
    Ok(())
}

/// `value` of `field` is at most `max`.
pub fn duration(field: &str, value: Duration, max: Duration) -> Result<(), String> {
    if value > max {
        return Err(format!("`{field}` is {value}; the limit is {max}"));
    }
    Ok(())
}

/// A timeout or deadline: from [`TIMEOUT_MIN`] to [`PHASE_MAX`].
pub fn timeout(field: &str, value: Duration) -> Result<(), String> {
    if value < TIMEOUT_MIN {
        return Err(format!(
            "`{field}` is {value}; it must be at least {TIMEOUT_MIN} (a shorter timeout fires so \
             often that virtual time stops advancing)"
        ));
    }
    duration(field, value, PHASE_MAX)
}

/// A think time between a client's operations: from [`TIMEOUT_MIN`] to [`PHASE_MAX`].
pub fn think(field: &str, value: Duration) -> Result<(), String> {
    if value < TIMEOUT_MIN {
        return Err(format!(
            "`{field}` is {value}; it must be at least {TIMEOUT_MIN} (with a shorter one, a \
             client whose operations fail at once loops without virtual time passing)"
        ));
    }
    duration(field, value, PHASE_MAX)
}

/// A probability in parts per million.
pub fn ppm(field: &str, value: u32) -> Result<(), String> {
    if value > crate::rng::PPM {
        return Err(format!(
            "`{field}` is {value}; probabilities are parts per million, at most {}",
            crate::rng::PPM
        ));
    }
    Ok(())
}

/// Reads a file a user named, of at most `bytes_max` bytes; `what` names it in errors (`a
/// scenario file` → `... a scenario file has a limit of N bytes`), which also name the path.
/// The read itself stops one byte past the limit, so a device or a pipe that never ends (and
/// has no size to check first) is refused too.
pub fn read_file(path: &std::path::Path, what: &str, bytes_max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let name = path.display();
    let error = |e: std::io::Error| format!("{name}: {e}");
    let file = std::fs::File::open(path).map_err(error)?;
    let size = file.metadata().map_err(error)?.len();
    if size > bytes_max {
        return Err(format!(
            "{name}: the file has {size} bytes; {what} has a limit of {bytes_max} bytes"
        ));
    }
    let mut bytes = Vec::new();
    file.take(bytes_max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() as u64 > bytes_max {
        return Err(format!(
            "{name}: {what} has a limit of {bytes_max} bytes, and this one has more"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_and_the_limit() {
        assert_eq!(count("workload.in_flight", 4, 1, 10), Ok(()));
        assert_eq!(
            count("workload.in_flight", 1_000_000_000_000, 1, PROCESSES_MAX).unwrap_err(),
            "`workload.in_flight` is 1000000000000; the limit is 10000"
        );
        assert!(
            count("workload.servers", 0, 1, 5)
                .unwrap_err()
                .contains("at least 1")
        );
        assert_eq!(
            duration(
                "safety_duration",
                Duration::from_secs(1_000_000_000),
                PHASE_MAX
            )
            .unwrap_err(),
            "`safety_duration` is 1000000000s; the limit is 3600s"
        );
        let stall = timeout("workload.timeout", Duration::ZERO).unwrap_err();
        assert!(
            stall.contains("at least 1ms") && stall.contains("stops advancing"),
            "{stall}"
        );
        assert!(ppm("swarm.link.loss_ppm", 1_000_001).is_err());
    }
}
