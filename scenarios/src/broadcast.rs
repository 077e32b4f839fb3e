//! Broadcast scenarios (issue 5): being written.

use crate::Scenario;

pub(crate) const SCENARIOS: &[&dyn Scenario] = &[];
