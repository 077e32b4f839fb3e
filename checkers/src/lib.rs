//! History checkers. Filled in by the linearizability work (issue 3).
