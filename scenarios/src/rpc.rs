//! RPC scenarios (issue 6): being written.

use crate::Scenario;

pub(crate) const SCENARIOS: &[&dyn Scenario] = &[];
