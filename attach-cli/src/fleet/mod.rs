//! Many hosts and pods: `attach` run on the far side through a transport people
//! already use (ssh, kubectl, `docker exec`, `nsenter`), one merged answer here.
//!
//! The far side always runs `attach --json` for fan-out and watch, so nothing is
//! parsed from text meant for people; an interactive session is the remote attach's
//! own shell over a terminal the transport carries. This module never talks to an
//! agent itself and never waits without a deadline: each host's transport is killed
//! at `--host-timeout`. See docs/FLEET.md.

mod child;
mod hosts;
mod live;
mod rows;
mod transport;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::{escape, interrupt, json, output, render, status};
use anyhow::{bail, Context};

use crate::Args;
use transport::Transport;

/// The options for reaching other hosts.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Other hosts and pods (docs/FLEET.md)")]
#[command(group(clap::ArgGroup::new("transport").args(["via", "ssh", "kubectl"])))]
pub struct FleetArgs {
    /// Run attach on each of --hosts through TEMPLATE, e.g. 'ssh {host}',
    /// 'docker exec -i {host}', 'nsenter -t {host} -p -m --'.
    #[arg(long, value_name = "TEMPLATE", requires = "hosts")]
    via: Option<String>,

    /// The hosts for --via: a comma list, @FILE (one per line, # comments) or - (stdin).
    #[arg(long, value_name = "HOSTS", requires = "via")]
    hosts: Vec<String>,

    /// Through ssh to HOSTS (a list as for --hosts; -t when interactive).
    #[arg(long, value_name = "HOSTS")]
    ssh: Vec<String>,

    /// Through `kubectl exec -i POD --` to PODS (a list as for --hosts; -it when interactive).
    #[arg(long, value_name = "PODS")]
    kubectl: Vec<String>,

    /// How many hosts are reached at once.
    #[arg(long, default_value = "16", value_name = "N", value_parser = clap::value_parser!(u16).range(1..), requires = "transport")]
    parallel: u16,

    /// Seconds one host may take, transport included; then its transport is killed.
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = crate::parse_seconds, requires = "transport")]
    host_timeout: Duration,

    /// The attach program on the far side.
    #[arg(
        long,
        default_value = "attach",
        value_name = "PATH",
        requires = "transport"
    )]
    remote_attach: String,
}

/// Other hosts to run on, and how to reach them.
pub struct Fleet {
    transport: Transport,
    hosts: Vec<String>,
    parallel: usize,
    host_timeout: Duration,
    remote: String,
}

impl Fleet {
    /// The fleet the arguments name, if they name one.
    pub fn from_args(args: &FleetArgs) -> anyhow::Result<Option<Fleet>> {
        let (transport, sources) = if let Some(template) = &args.via {
            (Transport::via(template)?, &args.hosts)
        } else if !args.ssh.is_empty() {
            (Transport::ssh(), &args.ssh)
        } else if !args.kubectl.is_empty() {
            (Transport::kubectl(), &args.kubectl)
        } else {
            return Ok(None);
        };
        Ok(Some(Fleet {
            transport,
            hosts: hosts::collect(sources)?,
            parallel: args.parallel.into(),
            host_timeout: args.host_timeout,
            remote: args.remote_attach.clone(),
        }))
    }

    /// Does what `args` ask on every host.
    pub fn run(&self, args: &Args) -> anyhow::Result<u8> {
        if args.list {
            return self.fan_out(
                &[self.remote.clone(), "--json".into(), "--list".into()],
                args,
            );
        }
        let target = args.target.as_deref().expect("clap requires a target");
        // Every value rides in the same word as its flag and the target comes after
        // `--`, so an expression or a name that starts with `-` stays what it is.
        let mut remote = vec![
            self.remote.clone(),
            format!("--timeout={}", args.timeout.as_secs_f64()),
        ];
        remote.extend(args.signal.map(|signal| format!("--signal={signal}")));
        if args.all {
            remote.push("--all".into());
        }
        let with_target = |mut remote: Vec<String>| {
            remote.extend(["--".into(), target.into()]);
            remote
        };
        if let Some(expr) = &args.watch {
            remote.extend([
                "--json".into(),
                format!("--interval={}ms", args.interval.as_millis()),
                format!("--watch={expr}"),
            ]);
            return live::run(self, &with_target(remote), expr, args);
        }
        if let Some(line) = args.one_shot() {
            remote.extend(["--json".into(), format!("--eval={line}")]);
            return self.fan_out(&with_target(remote), args);
        }
        if args.all {
            bail!("--all needs a command: attach --all {target} -e '<expr>'");
        }
        self.interactive(&with_target(remote))
    }

    fn reach(&self) -> rows::Reach<'_> {
        rows::Reach {
            transport: &self.transport,
            remote: &self.remote,
        }
    }

    /// Runs `remote` on every host, at most `--parallel` at once; one merged answer.
    fn fan_out(&self, remote: &[String], args: &Args) -> anyhow::Result<u8> {
        let answers = self.each_host(|host| {
            let finished = match self.transport.command(host, remote, false) {
                Ok(command) => child::run(command, self.host_timeout),
                Err(err) => return vec![rows::failure(host, &format!("{err:#}"))],
            };
            rows::documents(host, &finished, &self.reach(), args.list)
        });
        if interrupt::requested() {
            return Ok(status::INTERRUPTED);
        }
        let documents: Vec<&serde_json::Value> = answers.iter().flatten().collect();
        warn_about_protocols(&documents);
        if args.json {
            for document in &documents {
                json::print(document)?;
            }
        } else {
            let rows: Vec<serde_json::Value> = self
                .hosts
                .iter()
                .zip(&answers)
                .flat_map(|(host, answer)| match answer.as_slice() {
                    // Only `--list` answers with nothing: no agent runs there.
                    [] => vec![serde_json::json!({"host": host, "name": "(no agent here)"})],
                    documents => documents.iter().map(rows::table_row).collect(),
                })
                .collect();
            output::line(&render::table(&rows).unwrap_or_default())?;
            for line in documents.iter().filter_map(|d| rows::explanation(d)) {
                eprintln!("attach: {}", escape::text(&line));
            }
        }
        let worst = documents.iter().map(|d| rows::severity(d)).max();
        Ok(worst.unwrap_or(status::OK))
    }

    /// `job` for every host on a bounded pool of threads; results in host order.
    fn each_host<T: Send>(&self, job: impl Fn(&str) -> T + Sync) -> Vec<T> {
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<T>>> = self.hosts.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.min(self.hosts.len()) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(host) = self.hosts.get(index) else {
                        return;
                    };
                    let answer = job(host);
                    *results[index].lock().expect("no panics while held") = Some(answer);
                });
            }
        });
        results
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .expect("no panics while held")
                    .expect("every host ran")
            })
            .collect()
    }

    /// The remote attach's own shell, over a terminal the transport carries.
    fn interactive(&self, remote: &[String]) -> anyhow::Result<u8> {
        let [host] = self.hosts.as_slice() else {
            bail!(
                "an interactive session needs one host, not {}; give a command with -e to run it on all of them",
                self.hosts.len()
            );
        };
        let tty = std::io::stdin().is_terminal();
        let name = self.transport.name();
        let ended = self
            .transport
            .command(host, remote, tty)?
            .status()
            .with_context(|| format!("cannot run {name:?}; install it or fix the transport"))?;
        let code = ended.code().unwrap_or(status::NOT_CONNECTED.into());
        match code {
            127 => eprintln!(
                "attach: {:?} is not installed on {host} (exit 127 through {name}); install it there or name it with --remote-attach PATH",
                self.remote
            ),
            255 if self.transport.is_ssh() => {
                eprintln!("attach: ssh cannot reach {host} (exit 255)")
            }
            _ => {}
        }
        Ok(u8::try_from(code).unwrap_or(status::NOT_CONNECTED))
    }
}

/// One line on stderr per host whose attach speaks another wire protocol.
fn warn_about_protocols(documents: &[&serde_json::Value]) {
    let mut warned: Vec<&str> = Vec::new();
    for document in documents {
        let host = document["host"].as_str().unwrap_or("?");
        if let Some(note) = rows::protocol_note(document) {
            if !warned.contains(&host) {
                warned.push(host);
                eprintln!("attach: {host}: {note}; results may be incomplete, install the same attach on both sides");
            }
        }
    }
}
