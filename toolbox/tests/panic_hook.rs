//! Goal: the campaign's quiet panic hook hides only the panics of the code under test (they
//! become verdicts); a panic anywhere else, such as a bug in the command line, still reaches
//! the previous hook and is printed. Method: a counting hook installed first, then the quiet
//! one; a panicking run through `execute`, and a panic outside it. Its own test binary, since
//! the panic hook belongs to the whole process.

use faultline_toolbox::runner::{execute, install_quiet_panic_hook};
use faultline_toolbox::{Run, Scenario};
use sim::{Latency, LinkConfig, Outcome, Plan, Swarm, TraceLevel};
use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Broken;

impl Scenario for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn description(&self) -> &'static str {
        "panics as soon as it runs"
    }
    fn plan(&self, seed: u64, _bug: Option<&str>) -> Plan {
        let link = LinkConfig::reliable(Latency::Constant(sim::Duration::from_millis(1)));
        let swarm = Swarm::quiet(link.clone(), link);
        let phases = (sim::Duration::from_millis(10), sim::Duration::ZERO);
        faultline_toolbox::harness::plan("broken", seed, None, swarm, vec![], phases, &())
    }
    fn run(&self, _plan: &Plan, _level: TraceLevel) -> Result<Run, String> {
        panic!("the code under test broke")
    }
}

#[test]
fn only_panics_of_the_code_under_test_are_quiet() {
    let printed = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&printed);
    panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    install_quiet_panic_hook();

    let (result, _) = execute(&Broken, &Broken.plan(1, None), TraceLevel::Hash).unwrap();
    assert_eq!(result.verdict.outcome, Outcome::Panic);
    assert!(result.verdict.message.contains("the code under test broke"));
    assert_eq!(printed.load(Ordering::SeqCst), 0, "a verdict, not printed");

    let outside = panic::catch_unwind(|| panic!("a bug in the command line"));
    assert!(outside.is_err());
    assert_eq!(
        printed.load(Ordering::SeqCst),
        1,
        "printed by the previous hook"
    );

    let (again, _) = execute(&Broken, &Broken.plan(2, None), TraceLevel::Hash).unwrap();
    assert_eq!(again.verdict.outcome, Outcome::Panic);
    assert_eq!(printed.load(Ordering::SeqCst), 1);
}
