//! Lamport diagrams (issue 5): being written.
