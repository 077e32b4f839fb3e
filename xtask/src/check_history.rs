//! `cargo xtask check-history`: owned by the linearizability work (issue 3).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> i32 {
    2
}
