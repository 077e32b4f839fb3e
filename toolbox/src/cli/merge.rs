//! `merge FILES...`: adds up the `--json` summaries of a campaign's shards into the
//! summary that one run over all their seeds prints: the same outcomes, lowest failing seeds,
//! fault counts and quantiles, and the same exit code.

use crate::cli::campaign::file::CampaignFile;
use crate::cli::campaign::print::print_summary;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Summaries written by `fuzz --shard I/N --json FILE` (or by `merge --json`).
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Also write the merged summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    force: bool,
}

pub fn run(toolbox: &crate::Toolbox, args: Args) -> i32 {
    let merged = args
        .json
        .as_ref()
        .map_or(Ok(()), |path| {
            crate::cli::files::check_output("--json", path, args.force)
        })
        .and_then(|()| merge_files(&args.files, toolbox.command()));
    let merged = match merged {
        Ok(merged) => merged,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::cli::EXIT_BAD_INPUT;
        }
    };
    merged.scenarios.iter().for_each(print_summary);
    println!("{}", last_line(&merged));
    let _ = std::io::stdout().flush();
    if let Some(path) = &args.json
        && let Err(message) =
            crate::cli::files::write_new(path, merged.to_json().as_bytes(), args.force)
    {
        eprintln!("error: {message}");
        return crate::cli::EXIT_BAD_INPUT;
    }
    merged.exit_code()
}

/// Reads every file and adds them up; they must be disjoint shards of one campaign.
fn merge_files(files: &[PathBuf], command: &str) -> Result<CampaignFile, String> {
    let mut merged: Option<(CampaignFile, &PathBuf)> = None;
    for path in files {
        let file = CampaignFile::read(path, command)?;
        match &mut merged {
            None => merged = Some((file, path)),
            Some((all, first)) => add(all, file)
                .map_err(|e| format!("{} and {}: {e}", first.display(), path.display()))?,
        }
    }
    Ok(merged.expect("clap requires a file").0)
}

fn add(all: &mut CampaignFile, part: CampaignFile) -> Result<(), String> {
    if all.campaign != part.campaign {
        return Err(format!(
            "not shards of the same campaign: {} and {}",
            serde_json::to_string(&all.campaign).expect("serializes"),
            serde_json::to_string(&part.campaign).expect("serializes")
        ));
    }
    if let Some(shard) = part.shards_run.iter().find(|s| all.shards_run.contains(s)) {
        return Err(format!(
            "both hold shard {shard}/{}; its seeds would count twice",
            all.campaign.shards
        ));
    }
    all.shards_run.extend(&part.shards_run);
    all.shards_run.sort_unstable();
    all.seconds = all.seconds.max(part.seconds);
    all.jobs = all.jobs.saturating_add(part.jobs);
    all.interrupted |= part.interrupted;
    all.duration_ran_out |= part.duration_ran_out;
    for (summary, other) in all.scenarios.iter_mut().zip(&part.scenarios) {
        summary.merge(other);
    }
    Ok(())
}

/// `N seeds from K of N shards`, which are missing or were cut short, and the failure count.
fn last_line(merged: &CampaignFile) -> String {
    let count = merged.campaign.shards;
    let mut line = format!(
        "{} seeds from {} of {count} shards",
        merged.seeds_run(),
        merged.shards_run.len()
    );
    let missing = count - merged.shards_run.len() as u64;
    if missing > 0 {
        let listed: Vec<String> = first_missing(&merged.shards_run, count, 10)
            .iter()
            .map(u64::to_string)
            .collect();
        let more = if missing > 10 { ", ..." } else { "" };
        line.push_str(&format!(" (missing {}{more})", listed.join(", ")));
    }
    if merged.duration_ran_out {
        line.push_str(" (--duration ran out)");
    }
    if merged.interrupted {
        line.push_str(" (interrupted)");
    }
    line.push_str(&format!(", {} failing", merged.failing()));
    line
}

/// The first `max` shards below `count` that `run` (sorted) does not hold.
fn first_missing(run: &[u64], count: u64, max: usize) -> Vec<u64> {
    let mut missing = Vec::new();
    let mut next = 0u64;
    for &present in run.iter().chain([&count]) {
        while next < present && missing.len() < max {
            missing.push(next);
            next += 1;
        }
        next = present.saturating_add(1);
    }
    missing
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_shards_are_listed_without_walking_every_shard() {
        assert_eq!(super::first_missing(&[0, 2, 5], 7, 10), [1, 3, 4, 6]);
        assert_eq!(super::first_missing(&[1], u64::MAX, 3), [0, 2, 3]);
        assert!(super::first_missing(&[0, 1], 2, 10).is_empty());
    }
}
