//! `bench`: side-by-side benchmarks of `asyncio` (ours) against tokio, smol, futures,
//! futures-concurrency, CPython's asyncio and uvloop.
//!
//! ```text
//! bench list
//! bench run --system S --workload W --n N [--conns C]
//!                                                one run in this process, one JSON line
//! bench compare [--n 100000,1000000] [--runs 3] [--systems a,b] [--workloads x,y]
//!               [--conns 1,100,1000] [--json FILE] [--timeout SECS]
//!                                                a fresh process per run; medians and ratios
//! bench echo [--n 100000] [--conns 1,100,1000] [--runs 3] [--systems asyncio,tokio-ct,smol]
//!                                                compare on the TCP echo workload
//! bench check [--n 1000] [--conns 10]            every system on every workload once; ok?
//! bench instructions [--n 10000,20000] [--systems a,b]
//!                                                callgrind: instructions per child, spawn_yield
//! ```

mod compare;
mod measure;
mod systems;
mod workload;

use std::process::ExitCode;

use systems::System;
use workload::Workload;

const USAGE: &str = "usage:
  bench list
  bench run --system S --workload W --n N [--conns C (echo only)]
  bench compare [--n 100000,1000000] [--runs 3] [--systems a,b] [--workloads x,y] [--conns 1,100,1000] [--json FILE] [--timeout 120]
  bench echo [--n 100000] [--conns 1,100,1000] [--runs 3] [--systems asyncio,tokio-ct,smol] [--json FILE] [--timeout 120]
  bench check [--n 1000] [--conns 10] [--systems a,b] [--workloads x,y] [--timeout 120]
  bench instructions [--n 10000,20000] [--systems a,b]";

/// With `--features global-mimalloc`, every system allocates from mimalloc, as ours already does
/// for its task blocks: the level-field run in RESULTS.md. By default all use the system's malloc.
#[cfg(feature = "global-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The global allocator every system in this binary runs on, for the tables' header.
pub(crate) const GLOBAL_ALLOCATOR: &str = if cfg!(feature = "global-mimalloc") {
    "mimalloc (--features global-mimalloc)"
} else {
    "the system's malloc"
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(execute) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bench: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// A parsed command line.
#[derive(Debug, PartialEq)]
enum Command {
    List,
    Run {
        system: System,
        workload: Workload,
        n: u64,
        /// The connection count, for `echo` (1 unless given).
        conns: Option<u64>,
    },
    Compare(compare::Plan),
    Check(compare::Plan),
    Instructions {
        ns: Vec<u64>,
        systems: Vec<System>,
    },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (verb, rest) = args.split_first().ok_or("no command given")?;
    let mut options = Options::new(rest)?;
    let command = match verb.as_str() {
        "list" => Command::List,
        "run" => {
            let system = options.take("system").ok_or("run needs --system")?;
            let workload = options.take("workload").ok_or("run needs --workload")?;
            let n = options.take("n").ok_or("run needs --n")?;
            let workload = parse_workload(&workload)?;
            let conns = match options.take("conns") {
                Some(c) => Some(parse_n(&c)?),
                None if workload == Workload::Echo => Some(1),
                None => None,
            };
            let n = parse_n(&n)?;
            if let Some(why) = workload.refuse(n, conns) {
                return Err(why);
            }
            Command::Run {
                system: parse_system(&system)?,
                workload,
                n,
                conns,
            }
        }
        "compare" | "check" | "echo" => {
            let checking = verb == "check";
            let echoing = verb == "echo";
            let default_n = match verb.as_str() {
                "check" => "1000",
                "echo" => "100000",
                _ => "100000,1000000",
            };
            let plan = compare::Plan {
                ns: parse_list(&options.take("n").unwrap_or(default_n.into()), parse_n)?,
                runs: match options.take("runs") {
                    Some(r) if !checking => r.parse().map_err(|_| format!("bad --runs {r:?}"))?,
                    Some(_) => return Err("check makes one run of each".into()),
                    None if checking => 1,
                    None => 3,
                },
                systems: match options.take("systems") {
                    Some(s) => parse_list(&s, parse_system)?,
                    None if echoing => vec![System::Asyncio, System::TokioCt, System::Smol],
                    None => System::ALL.to_vec(),
                },
                workloads: match options.take("workloads") {
                    Some(_) if echoing => return Err("echo runs the echo workload only".into()),
                    Some(s) => parse_list(&s, parse_workload)?,
                    None if echoing => vec![Workload::Echo],
                    None if checking => Workload::ALL.to_vec(),
                    None => Workload::GATHER.to_vec(),
                },
                conns: match options.take("conns") {
                    Some(c) => parse_list(&c, parse_n)?,
                    None if checking => vec![10],
                    None => vec![1, 100, 1000],
                },
                json: if checking { None } else { options.take("json") },
                timeout_secs: match options.take("timeout") {
                    Some(t) => t.parse().map_err(|_| format!("bad --timeout {t:?}"))?,
                    None => 120,
                },
            };
            if plan.runs == 0 {
                return Err("--runs must be at least 1".into());
            }
            if checking {
                Command::Check(plan)
            } else {
                Command::Compare(plan)
            }
        }
        "instructions" => Command::Instructions {
            ns: parse_list(&options.take("n").unwrap_or("10000,20000".into()), parse_n)?,
            systems: match options.take("systems") {
                Some(s) => parse_list(&s, parse_system)?,
                None => System::ALL.into_iter().filter(|s| !s.is_python()).collect(),
            },
        },
        other => return Err(format!("unknown command {other:?}")),
    };
    options.finish()?;
    Ok(command)
}

fn execute(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::List => {
            println!("systems:");
            for s in System::ALL {
                println!("  {:<20} {}", s.name(), s.describe());
            }
            println!("workloads:");
            for w in Workload::ALL {
                println!("  {:<20} {}", w.name(), w.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            system,
            workload,
            n,
            conns,
        } => {
            if let Some(why) = systems::unsupported(system, workload) {
                println!(
                    "{}",
                    measure::skipped_json(system.name(), workload.name(), n, why)
                );
                return Ok(ExitCode::SUCCESS);
            }
            if system.is_python() {
                let why = systems::python::exec(system, workload, n);
                println!(
                    "{}",
                    measure::skipped_json(system.name(), workload.name(), n, &why)
                );
                return Ok(ExitCode::SUCCESS);
            }
            match systems::run(system, workload, n, conns) {
                Ok(finish) => {
                    let report = finish.report(system.name(), workload.name(), n);
                    println!("{}", report.to_json());
                    Ok(if report.ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
                Err(why) => {
                    println!(
                        "{}",
                        measure::skipped_json(system.name(), workload.name(), n, why)
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Compare(plan) => compare::compare(&plan),
        Command::Check(plan) => compare::check(&plan),
        Command::Instructions { ns, systems } => compare::instructions(&ns, &systems),
    }
}

/// `--name value` pairs, each taken once.
struct Options(Vec<(String, Option<String>)>);

impl Options {
    fn new(args: &[String]) -> Result<Options, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            let (name, value) = match name.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (
                    name.to_string(),
                    it.next()
                        .ok_or_else(|| format!("--{name} needs a value"))?
                        .clone(),
                ),
            };
            pairs.push((name, Some(value)));
        }
        Ok(Options(pairs))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0
            .iter_mut()
            .find(|(k, v)| k == name && v.is_some())?
            .1
            .take()
    }

    fn finish(self) -> Result<(), String> {
        match self.0.into_iter().find(|(_, v)| v.is_some()) {
            Some((k, _)) => Err(format!("unknown or repeated option --{k}")),
            None => Ok(()),
        }
    }
}

fn parse_system(s: &str) -> Result<System, String> {
    System::parse(s).ok_or_else(|| format!("unknown system {s:?} (see `bench list`)"))
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    Workload::parse(s).ok_or_else(|| format!("unknown workload {s:?} (see `bench list`)"))
}

/// A count, with `_` or `,`-free digits, or `1e6` style.
fn parse_n(s: &str) -> Result<u64, String> {
    let bad = || format!("bad count {s:?}: use digits (1000000, 1_000_000) or 1e6");
    let clean = s.replace('_', "");
    let n = match clean.split_once(['e', 'E']) {
        Some((m, e)) => {
            let m: u64 = m.parse().map_err(|_| bad())?;
            let e: u32 = e.parse().map_err(|_| bad())?;
            10u64
                .checked_pow(e)
                .and_then(|p| p.checked_mul(m))
                .ok_or_else(bad)?
        }
        None => clean.parse().map_err(|_| bad())?,
    };
    if n == 0 {
        return Err("n must be at least 1".into());
    }
    Ok(n)
}

fn parse_list<T>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',').filter(|p| !p.is_empty()).map(item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_takes_system_workload_and_n() {
        assert_eq!(
            parse(&args(
                "run --system tokio-ct --workload spawn_yield --n 1e5"
            )),
            Ok(Command::Run {
                system: System::TokioCt,
                workload: Workload::SpawnYield,
                n: 100_000,
                conns: None,
            })
        );
    }

    #[test]
    fn echo_runs_take_a_connection_count_defaulting_to_one() {
        let run = |s| parse(&args(s));
        assert_eq!(
            run("run --system smol --workload echo --n 1000 --conns 10"),
            Ok(Command::Run {
                system: System::Smol,
                workload: Workload::Echo,
                n: 1000,
                conns: Some(10),
            })
        );
        assert!(matches!(
            run("run --system smol --workload echo --n 5"),
            Ok(Command::Run { conns: Some(1), .. })
        ));
        assert!(run("run --system smol --workload echo --n 5 --conns 6").is_err());
        assert!(run("run --system smol --workload ready --n 5 --conns 1").is_err());
    }

    #[test]
    fn bench_echo_compares_the_three_systems_at_three_connection_counts() {
        let Ok(Command::Compare(plan)) = parse(&args("echo --runs 2")) else {
            panic!("echo did not parse");
        };
        assert_eq!(plan.workloads, vec![Workload::Echo]);
        assert_eq!(
            plan.systems,
            vec![System::Asyncio, System::TokioCt, System::Smol]
        );
        assert_eq!(plan.ns, vec![100_000]);
        assert_eq!(plan.conns, vec![1, 100, 1000]);
        assert_eq!(plan.runs, 2);
        assert!(parse(&args("echo --workloads ready")).is_err());
    }

    #[test]
    fn check_runs_echo_with_ten_connections_and_compare_leaves_it_out() {
        let Ok(Command::Check(plan)) = parse(&args("check")) else {
            panic!("check did not parse");
        };
        assert!(plan.workloads.contains(&Workload::Echo));
        assert_eq!(plan.conns, vec![10]);
        let Ok(Command::Compare(plan)) = parse(&args("compare")) else {
            panic!("compare did not parse");
        };
        assert!(!plan.workloads.contains(&Workload::Echo));
    }

    #[test]
    fn compare_defaults_to_three_runs_at_1e5_and_1e6() {
        let Ok(Command::Compare(plan)) = parse(&args("compare --workloads ready,chain")) else {
            panic!("compare did not parse");
        };
        assert_eq!(plan.ns, vec![100_000, 1_000_000]);
        assert_eq!(plan.runs, 3);
        assert_eq!(plan.workloads, vec![Workload::Ready, Workload::Chain]);
        assert_eq!(plan.systems.len(), System::ALL.len());
    }

    #[test]
    fn unknown_options_and_names_are_refused() {
        assert!(parse(&args("run --system tokio --workload ready --n 10")).is_err());
        assert!(parse(&args("compare --bogus 1")).is_err());
        assert!(parse(&args("run --system asyncio --workload ready --n 0")).is_err());
    }
}
