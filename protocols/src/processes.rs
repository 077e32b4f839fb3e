//! Logical client processes for workload clients: each has at most one request outstanding,
//! and request ids carry their process in the low digits, so a reply finds its process and a
//! late or duplicated reply finds nothing. A process's operations draw keyed randomness
//! (`op_key`): its k-th operation and the think time before it draw the same in every run,
//! whatever faults or other operations came first.

/// Which draws of a client operation a key is for.
#[derive(Clone, Copy, Debug)]
pub enum OpDraw {
    /// The think time before the operation.
    Think = 0,
    /// The operation itself: its kind, key, value, server.
    Op = 1,
}

/// The key (`Context::keyed_rng`) of the draws of operation `index` (counting from 0) of
/// history process `process`.
pub fn op_key(process: u64, index: u64, draw: OpDraw) -> [u64; 2] {
    [process, 2 * index + draw as u64]
}

/// The outstanding request of each process, with what the client keeps about it.
pub struct Processes<P> {
    outstanding: Vec<Option<(u64, P)>>,
    rounds: u64,
    /// Requests issued by each process.
    issued: Vec<u64>,
}

impl<P> Processes<P> {
    pub fn new(count: usize) -> Processes<P> {
        assert!(count > 0, "a client needs a process");
        Processes {
            outstanding: (0..count).map(|_| None).collect(),
            rounds: 0,
            issued: vec![0; count],
        }
    }

    pub fn count(&self) -> usize {
        self.outstanding.len()
    }

    /// The id of `process`'s next request; the process must be idle.
    pub fn next_request(&mut self, process: usize) -> u64 {
        assert!(
            self.outstanding[process].is_none(),
            "a process has one request outstanding"
        );
        let request = self.rounds * self.count() as u64 + process as u64;
        self.rounds += 1;
        self.issued[process] += 1;
        request
    }

    /// The index of `process`'s next operation: how many requests it has issued.
    pub fn next_op(&self, process: usize) -> u64 {
        self.issued[process]
    }

    /// `process` now waits for `request`.
    pub fn wait(&mut self, process: usize, request: u64, pending: P) {
        assert_eq!(
            self.process_of(request),
            process,
            "request {request} belongs to another process"
        );
        assert!(
            self.outstanding[process].is_none(),
            "a process has one request outstanding"
        );
        self.outstanding[process] = Some((request, pending));
    }

    /// Ends `request` if its process still waits for it: the process and what was kept.
    pub fn finish(&mut self, request: u64) -> Option<(usize, P)> {
        let process = self.process_of(request);
        let slot = &mut self.outstanding[process];
        match slot {
            Some((waiting, _)) if *waiting == request => {
                slot.take().map(|(_, pending)| (process, pending))
            }
            _ => None,
        }
    }

    fn process_of(&self, request: u64) -> usize {
        (request % self.count() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ids interleave processes round by round; only the awaited request finishes, once.
    #[test]
    fn requests_find_their_process_once() {
        let mut processes: Processes<&str> = Processes::new(3);
        let a = processes.next_request(1);
        processes.wait(1, a, "a");
        let b = processes.next_request(2);
        processes.wait(2, b, "b");
        assert_eq!((a, b), (1, 5));
        assert_eq!(processes.finish(4), None, "process 1 waits for 1, not 4");
        assert_eq!(processes.finish(a), Some((1, "a")));
        assert_eq!(processes.finish(a), None, "a duplicate reply finds nothing");
        assert_eq!(processes.next_request(1), 7);
    }
}
