//! The deterministic simulation engine: virtual time, network, faults, traces
