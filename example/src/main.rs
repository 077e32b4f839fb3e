//! The store's command line: Faultline's toolbox over the store's scenarios. Every replay line
//! it prints starts with the command that runs it.

fn main() {
    let scenarios = faultline_example::scenario::all();
    faultline_toolbox::Toolbox::new("cargo run -q --release -p faultline-example --", scenarios)
        .main()
}
