//! `fuzz`: many seeds, in parallel across cores, one simulation per thread, or one
//! shard of a campaign that runs on many machines. Seeds stream to the workers and only
//! mergeable aggregates are kept (see `campaign`), so memory does not depend on the number of
//! seeds and the summary does not depend on the number of jobs.

use crate::cli::campaign::file::{CampaignFile, FORMAT, Identity, VERSION};
use crate::cli::campaign::print::print_summary;
use crate::cli::campaign::run::{self, Campaign, Finished, Stop, Target};
use crate::cli::campaign::stream::{Shard, Stream};
use crate::cli::campaign::summary::TargetSummary;
use crate::{Scenario, Toolbox};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The scenario to fuzz; without it, a campaign over every scenario (or over every
    /// scenario that has the --bug).
    #[arg(long)]
    scenario: Option<String>,
    /// Fuzz the scenario of this specification file instead of a registered one; failing seeds print `replay --scenario-file FILE` lines.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    scenario_file: Option<PathBuf>,
    /// A planted bug to switch on (see `list`).
    #[arg(long)]
    bug: Option<String>,
    /// Seeds per scenario [default: 1000 with --scenario or --bug, 200 per scenario without;
    /// with --duration, as many as the time allows].
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, default_value_t = 0, conflicts_with = "random")]
    start: u64,
    /// Start from a random seed (printed, so the campaign can be repeated).
    #[arg(long)]
    random: bool,
    /// Parallel jobs [default: the number of cores; at most 1024, and at most one per seed].
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop starting new seeds after this much wall-clock time (`90`, `90s`, `15m`, `2h`; a bare
    /// number is seconds).
    #[arg(long, value_parser = sim::Duration::parse_flag)]
    duration: Option<sim::Duration>,
    /// Run the I-th of N disjoint parts of the campaign's seeds (I from 0 to N-1); `merge`
    /// adds up their --json files.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Run every seed twice and compare trace hashes.
    #[arg(long)]
    check_determinism: bool,
    /// Also write the summary as JSON to this file (what `merge` reads).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Add the lowest failing seeds of each outcome to the scenario's regression corpus, as
    /// plans (in the tool's corpus folder, CORPUS/SCENARIO/); existing entries are kept as
    /// they are.
    #[arg(long)]
    add_to_corpus: bool,
    /// Shrink the lowest failing seed of each failing scenario (`shrink`) and write
    /// its plan as SCENARIO[-BUG]-seed-N.shrunk.json in the current folder.
    #[arg(long)]
    shrink: bool,
    /// Replace an existing --json file or shrunk plan.
    #[arg(long)]
    force: bool,
}

const SEEDS_DEFAULT: u64 = 1000;
const SEEDS_DEFAULT_CAMPAIGN: u64 = 200;
/// More threads than this is a mistake, not a machine.
pub const JOBS_MAX: usize = 1024;

pub fn run(toolbox: &Toolbox, args: Args) -> i32 {
    match prepare(toolbox, &args) {
        Ok((campaign, identity)) => {
            let jobs = campaign.jobs;
            finish(toolbox, &args, identity, jobs, run::run(campaign))
        }
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_BAD_INPUT
        }
    }
}

/// The scenarios to run: the named one, every one that has the bug, or all of them.
fn targets(toolbox: &Toolbox, args: &Args) -> Result<Vec<Target>, String> {
    let with_bug = |scenario: &'static dyn Scenario| Target {
        scenario,
        bug: args
            .bug
            .as_deref()
            .and_then(|b| scenario.bugs().into_iter().find(|known| known.name == b))
            .map(|known| known.name),
    };
    if let Some(path) = &args.scenario_file {
        let scenario = toolbox.load_file(path)?;
        crate::check_bug(scenario, args.bug.as_deref())?;
        return Ok(vec![with_bug(scenario)]);
    }
    if let Some(name) = &args.scenario {
        let scenario = toolbox.find(name)?;
        crate::check_bug(scenario, args.bug.as_deref())?;
        return Ok(vec![with_bug(scenario)]);
    }
    if toolbox.scenarios().is_empty() {
        return Err(format!(
            "{} registers no scenarios: name one with --scenario-file FILE",
            toolbox.command()
        ));
    }
    let all = toolbox.scenarios().iter().copied();
    let Some(bug) = &args.bug else {
        return Ok(all.map(with_bug).collect());
    };
    let having: Vec<Target> = all
        .filter(|s| s.bugs().iter().any(|b| b.name == bug))
        .map(with_bug)
        .collect();
    if having.is_empty() {
        let known: Vec<String> = toolbox
            .scenarios()
            .iter()
            .flat_map(|s| {
                s.bugs()
                    .into_iter()
                    .map(move |b| format!("{} ({})", b.name, s.name()))
            })
            .collect();
        return Err(format!(
            "unknown bug `{bug}`; valid bugs: {}",
            known.join(", ")
        ));
    }
    Ok(having)
}

/// The first seed and the number of seeds per scenario (`None`: to the end of the seeds).
fn seed_range(args: &Args, single: bool) -> Result<(u64, Option<u64>), String> {
    let seeds = match (args.seeds, args.duration) {
        (Some(0), _) => return Err("--seeds must be positive".into()),
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(if single {
            SEEDS_DEFAULT
        } else {
            SEEDS_DEFAULT_CAMPAIGN
        }),
    };
    if args.random && args.shard.is_some() {
        return Err(
            "--shard needs the same seeds in every shard: use --start, not --random".into(),
        );
    }
    let start = if args.random {
        random_seed()?
    } else {
        args.start
    };
    if let Some(n) = seeds
        && start.checked_add(n - 1).is_none()
    {
        return Err(format!(
            "--start {start} plus --seeds {n} goes past the last seed, {}",
            u64::MAX
        ));
    }
    Ok((start, seeds))
}

fn jobs(args: &Args, stream: &Stream) -> Result<usize, String> {
    let asked = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(JOBS_MAX))
    });
    if asked == 0 {
        return Err("--jobs must be positive".into());
    }
    if asked > JOBS_MAX {
        return Err(format!("--jobs {asked} is above the limit of {JOBS_MAX}"));
    }
    let items = usize::try_from(stream.len()).unwrap_or(usize::MAX);
    if asked > items {
        if args.jobs.is_some() && items > 0 {
            eprintln!("note: --jobs {asked} capped at {items}, the number of seeds to run");
        }
        return Ok(items);
    }
    Ok(asked)
}

fn prepare(toolbox: &Toolbox, args: &Args) -> Result<(Campaign, Identity), String> {
    if args.add_to_corpus && args.scenario_file.is_some() {
        return Err(
            "--add-to-corpus keeps plans of registered scenarios; for a --scenario-file, keep \
             the failing plans with `replay --scenario-file FILE --seed N --dump-plan P`"
                .into(),
        );
    }
    if args.add_to_corpus && toolbox.corpus().is_none() {
        return Err(format!(
            "--add-to-corpus: {} keeps no corpus; keep the failing plans with \
             `replay --scenario NAME --seed N --dump-plan P`",
            toolbox.command()
        ));
    }
    let targets = targets(toolbox, args)?;
    let single = args.scenario.is_some() || args.scenario_file.is_some() || args.bug.is_some();
    let (start, seeds) = seed_range(args, single)?;
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let stream = Stream::new(targets.len(), start, seeds, shard);
    let jobs = jobs(args, &stream)?;
    if let Some(path) = &args.json {
        crate::cli::files::check_output("--json", path, args.force)?;
    }
    let identity = Identity {
        start,
        seeds,
        duration_nanos: args.duration.map(sim::Duration::as_nanos),
        check_determinism: args.check_determinism,
        shards: shard.count,
        targets: targets
            .iter()
            .map(|t| (t.scenario.name().to_string(), t.bug.map(str::to_string)))
            .collect(),
    };
    let campaign = Campaign {
        command: toolbox.command().to_string(),
        targets,
        stream,
        jobs,
        check_determinism: args.check_determinism,
        deadline: args
            .duration
            .map(|d| std::time::Duration::from_nanos(d.as_nanos())),
    };
    print_header(args, &campaign, shard);
    Ok((campaign, identity))
}

/// One line per scenario on stderr: which seeds, how many jobs.
fn print_header(args: &Args, campaign: &Campaign, shard: Shard) {
    let seeds = match (
        campaign.stream.bounds(),
        args.seeds.is_some() || args.duration.is_none(),
    ) {
        (None, _) => format!("no seeds in shard {shard}"),
        (Some((first, last)), true) => format!("seeds {first}..={last}"),
        (Some((first, _)), false) => format!("seeds from {first} on"),
    };
    let every = if shard.count > 1 && campaign.stream.shard_seeds() > 1 {
        format!(", every {} (shard {shard})", shard.count)
    } else {
        String::new()
    };
    let limits = match args.duration {
        Some(d) => format!(", for {d} at most"),
        None => String::new(),
    };
    let twice = if args.check_determinism {
        ", each run twice"
    } else {
        ""
    };
    for target in &campaign.targets {
        let bug = target
            .bug
            .map(|b| format!(" --bug {b}"))
            .unwrap_or_default();
        eprintln!(
            "fuzz {}{bug}: {seeds}{every}, {} jobs{limits}{twice}",
            target.scenario.name(),
            campaign.jobs
        );
    }
}

/// Prints the summary, writes the JSON and the corpus, and returns the exit code.
fn finish(
    toolbox: &Toolbox,
    args: &Args,
    identity: Identity,
    jobs: usize,
    finished: Finished,
) -> i32 {
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let file = CampaignFile {
        format: FORMAT.to_string(),
        version: VERSION,
        shards_run: vec![shard.index],
        campaign: identity,
        seconds: finished.seconds,
        jobs: jobs as u64,
        interrupted: finished.stop == Stop::Interrupted,
        duration_ran_out: finished.stop == Stop::DurationRanOut,
        scenarios: finished.summaries,
    };
    file.scenarios.iter().for_each(print_summary);
    if args.random {
        let start = file.campaign.start;
        println!("started at random seed {start}: repeat with --start {start}");
    }
    println!("{}", last_line(&file, args, shard));
    let _ = std::io::stdout().flush();
    let written = args.json.as_ref().map_or(Ok(()), |path| {
        crate::cli::files::write_new(path, file.to_json().as_bytes(), args.force)
    });
    let corpus = if args.add_to_corpus {
        file.scenarios
            .iter()
            .try_for_each(|summary| add_to_corpus(toolbox, summary))
    } else {
        Ok(())
    };
    let mut failed = false;
    for result in [written, corpus] {
        if let Err(message) = result {
            eprintln!("error: {message}");
            failed = true;
        }
    }
    // Shrinking comes last, after everything the campaign owes is written; not after an
    // interrupted campaign, and a Ctrl-C during it stops it with the smallest plan so far.
    if args.shrink && finished.stop == Stop::Interrupted {
        eprintln!("note: the campaign was interrupted; nothing is shrunk");
    } else if args.shrink {
        let interrupts = &finished.interrupts;
        let go_on = || interrupts.load(std::sync::atomic::Ordering::SeqCst) == 0;
        for summary in &file.scenarios {
            if let Err(message) = shrink_lowest(toolbox, args, summary, &go_on) {
                eprintln!("error: {message}");
                failed = true;
            }
        }
    }
    if failed {
        return crate::cli::EXIT_BAD_INPUT;
    }
    file.exit_code()
}

/// `N seeds in S: R seeds/s on J jobs, F failing`, and why it stopped early.
fn last_line(file: &CampaignFile, args: &Args, shard: Shard) -> String {
    let (total, seconds) = (file.seeds_run(), file.seconds);
    let mut line = format!(
        "{total} seeds in {seconds:.1}s: {:.0} seeds/s on {} jobs",
        total as f64 / seconds.max(1e-9),
        file.jobs
    );
    if shard.count > 1 {
        line.push_str(&format!(" (shard {shard})"));
    }
    if file.duration_ran_out {
        let planned = Stream::new(1, file.campaign.start, file.campaign.seeds, shard).len();
        let targets = file.scenarios.len() as u128;
        match args.seeds {
            Some(_) => line.push_str(&format!(
                " ({} not run: --duration ran out)",
                planned * targets - u128::from(total)
            )),
            None => line.push_str(" (--duration ran out)"),
        }
    }
    line.push_str(&format!(", {} failing", file.failing()));
    if file.interrupted {
        line.push_str(&format!("; interrupted after {total} seeds"));
    }
    line
}

/// Adds the kept failing seeds that the corpus does not have yet, as plans with what they
/// caught (`crate::corpus`).
fn add_to_corpus(toolbox: &Toolbox, summary: &TargetSummary) -> Result<(), String> {
    let scenario = toolbox.find(&summary.scenario)?;
    let folder = toolbox.corpus().expect("checked before the campaign");
    let mut added = 0;
    for failure in &summary.failures {
        let bug = summary.bug.as_deref();
        let caught = failure.headline();
        if crate::corpus::add(
            folder,
            scenario,
            failure.seed,
            bug,
            failure.outcome,
            &caught,
        )? {
            added += 1;
        }
    }
    eprintln!(
        "added {added} plans to {}",
        folder.join(&summary.scenario).display()
    );
    Ok(())
}

/// Shrinks the lowest failing seed of `summary`, if any, and prints the shrunk plan's replay
/// line under the seed's. A shrunk plan already on file with the same contents (the search is
/// deterministic) is kept; another file of that name is replaced only with `--force`, and is
/// refused before the search. A nondeterministic seed is no failure of one run, and is not
/// shrunk. `go_on` false (a Ctrl-C) stops the search with the smallest plan so far.
fn shrink_lowest(
    toolbox: &Toolbox,
    args: &Args,
    summary: &TargetSummary,
    go_on: &dyn Fn() -> bool,
) -> Result<(), String> {
    let Some(failure) = summary
        .failures
        .iter()
        .filter(|f| f.outcome != sim::Outcome::Nondeterminism)
        .min_by_key(|f| f.seed)
    else {
        return Ok(());
    };
    let scenario = match &args.scenario_file {
        Some(path) => toolbox.load_file(path)?,
        None => toolbox.find(&summary.scenario)?,
    };
    let plan = scenario.plan(failure.seed, summary.bug.as_deref());
    let path = crate::cli::shrink::default_path(&plan);
    // A file of that name is checked before the search: one that a shrink of the same run
    // wrote may be kept (if the search gives the same bytes), another is refused.
    // Read within the plan limit: a file of that name could be anything.
    let existing = path
        .exists()
        .then(|| sim::limits::read_file(&path, "a plan file", sim::limits::PLAN_BYTES_MAX).ok())
        .flatten();
    let same_run = existing.as_deref().is_some_and(|bytes| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|entry| entry["shrunk"]["from"] == failure.replay.as_str())
    });
    if !same_run {
        crate::cli::files::check_output("--shrink", &path, args.force)?;
    }
    let options = crate::shrink::Options::default();
    crate::runner::install_quiet_panic_hook();
    let (shrunk, seconds) = crate::cli::shrink::search(scenario, &plan, &options, go_on)?;
    let text = crate::cli::shrink::plan_text(&shrunk, &failure.replay);
    if existing.as_deref() != Some(text.as_bytes()) {
        crate::cli::files::write_new(&path, text.as_bytes(), args.force)?;
    }
    println!(
        "SHRUNK {} seed {}: {} ({} candidate runs, {seconds:.1}s; {})",
        summary.scenario,
        failure.seed,
        crate::cli::shrink::sizes_line(&shrunk),
        shrunk.runs,
        crate::cli::shrink::minimal_line(&shrunk)
    );
    println!("     replay: {}", failure.replay);
    println!(
        "     shrunk: {}",
        crate::cli::replay::plan_replay_line(toolbox, &path, args.scenario_file.as_deref())
    );
    let _ = std::io::stdout().flush();
    Ok(())
}

/// A first seed from the OS, for `--random`: the campaign prints it so it can be repeated.
/// Below 2^63, so that a campaign starting there has room for its seeds.
fn random_seed() -> Result<u64, String> {
    getrandom::u64()
        .map(|n| n >> 1)
        .map_err(|e| format!("--random: the OS gave no random number: {e}"))
}
