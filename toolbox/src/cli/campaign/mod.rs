//! Fuzz campaigns that scale from one core to a fleet: a seed stream computed from its
//! position ([`stream`]), worker threads that run it ([`run`]), and summaries that keep only
//! aggregates and the lowest failing seeds ([`summary`], [`histogram`]) and merge exactly, so
//! that shards run anywhere ([`file`]) add up to the summary of one run ([`print`]).

pub mod file;
pub mod histogram;
pub mod print;
pub mod run;
pub mod stream;
pub mod summary;
