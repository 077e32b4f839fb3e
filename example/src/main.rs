//! The store's command line: Faultline's toolbox over the store's scenarios, reading scenario
//! files with the store's names (`--scenario-file`). Every replay line it prints starts with
//! the command that runs it.

use faultline_example::scenario;

fn main() {
    let command = "cargo run -q --release -p faultline-example --";
    faultline_toolbox::Toolbox::new(command, scenario::all())
        .with_registry(scenario::REGISTRY)
        .main()
}
