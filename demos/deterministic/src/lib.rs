//! The demonstration of `shims/getrandom-0.2`: see the tests.
pub use nondeterministic_demo::run;
