//! Logical client processes for workload clients: each has at most one request outstanding,
//! and request ids carry their process in the low digits, so a reply finds its process and a
//! late or duplicated reply finds nothing. Which operation a process issues next, and its
//! draws, is `faultline_api::ops::OpCursor`'s business.

/// The outstanding request of each process, with what the client keeps about it.
pub struct Processes<P> {
    outstanding: Vec<Option<(u64, P)>>,
    rounds: u64,
}

impl<P> Processes<P> {
    pub fn new(count: usize) -> Processes<P> {
        assert!(count > 0, "a client needs a process");
        Processes {
            outstanding: (0..count).map(|_| None).collect(),
            rounds: 0,
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
        request
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

    /// The request `process` waits for, and what is kept about it.
    pub fn waiting_mut(&mut self, process: usize) -> Option<(u64, &mut P)> {
        self.outstanding[process]
            .as_mut()
            .map(|(request, pending)| (*request, pending))
    }

    /// The process a request id belongs to.
    pub fn process_of(&self, request: u64) -> usize {
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
        assert_eq!(processes.waiting_mut(0), None);
        assert_eq!(processes.waiting_mut(1), Some((a, &mut "a")));
        assert_eq!(processes.finish(a), Some((1, "a")));
        assert_eq!(processes.finish(a), None, "a duplicate reply finds nothing");
        assert_eq!(processes.next_request(1), 7);
    }
}
