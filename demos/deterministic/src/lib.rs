//! The demonstration of `shims/getrandom-0.2`, `-0.3` and `-0.4`: see the tests.
pub use nondeterministic_demo::run;
