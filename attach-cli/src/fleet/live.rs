//! `--watch` over several hosts: one live table.
//!
//! Each host runs one long `attach --json --watch` through its transport, and its
//! documents stream back line by line; every interval the latest value of each
//! (host, pid) is drawn. A transport that ends, or stays silent for longer than
//! `--host-timeout`, turns its host into an error row and is killed; Ctrl-C kills
//! them all and leaves with status 0, as a local watch does. Every transport is
//! killed when its `Stream` is dropped, however the watch ends.

use std::collections::BTreeMap;
use std::process::{Child, ExitCode, ExitStatus};
use std::sync::mpsc;
use std::time::Instant;

use attach_cli::{interrupt, json, render};
use serde_json::Value;

use super::child::{self, End, Finished};
use super::{rows, Fleet};
use crate::watch::Watch;
use crate::Args;

/// One host's stream.
struct Stream {
    child: Option<Child>,
    last_heard: Instant,
    last_stderr: String,
    /// The latest document for each pid (the key is the pid as JSON text).
    latest: BTreeMap<String, Value>,
}

pub fn run(fleet: &Fleet, remote: &[String], expr: &str, args: &Args) -> anyhow::Result<ExitCode> {
    let watch = Watch {
        expr,
        interval: args.interval,
        as_json: args.json,
    };
    let (sender, receiver) = mpsc::channel();
    let mut streams: Vec<Stream> = fleet
        .hosts
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let mut stream = Stream {
                child: None,
                last_heard: Instant::now(),
                last_stderr: String::new(),
                latest: BTreeMap::new(),
            };
            let started = fleet
                .transport
                .command(host, remote, false)
                .and_then(|command| Ok(child::spawn(command)?));
            match started {
                Ok(mut running) => {
                    let stdout = running.stdout.take().expect("piped stdout");
                    let stderr = running.stderr.take().expect("piped stderr");
                    child::lines(stdout, (index, true), sender.clone());
                    child::lines(stderr, (index, false), sender.clone());
                    stream.child = Some(running);
                }
                Err(err) => stream.fail(host, End::NotStarted(std::io::Error::other(err)), fleet),
            }
            stream
        })
        .collect();
    drop(sender);
    loop {
        for ((index, is_stdout), line) in receiver.try_iter() {
            let stream = &mut streams[index];
            let host = &fleet.hosts[index];
            match (is_stdout, line) {
                (true, Some(line)) => {
                    stream.last_heard = Instant::now();
                    let finished = Finished {
                        end: End::Exited(ExitStatus::default()),
                        stdout: line,
                        stderr: String::new(),
                    };
                    for document in rows::documents(host, &finished, &fleet.reach(), false) {
                        if watch.as_json {
                            json::print(&document)?;
                        }
                        stream.latest.insert(document["pid"].to_string(), document);
                    }
                }
                (false, Some(line)) if !line.trim().is_empty() => stream.last_stderr = line,
                _ => {}
            }
        }
        for (stream, host) in streams.iter_mut().zip(&fleet.hosts) {
            let Some(running) = stream.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = running.try_wait() {
                stream.fail(host, End::Exited(status), fleet);
            } else if stream.last_heard.elapsed() > fleet.host_timeout + args.interval {
                stream.fail(host, End::TimedOut(fleet.host_timeout), fleet);
            }
        }
        if interrupt::requested() {
            return Ok(ExitCode::SUCCESS);
        }
        let documents: Vec<&Value> = streams.iter().flat_map(|s| s.latest.values()).collect();
        if !watch.as_json {
            let rows: Vec<Value> = documents.iter().map(|d| rows::table_row(d)).collect();
            let title = format!("attach --watch {expr:?} on {} hosts", fleet.hosts.len());
            watch.draw(&title, &render::table(&rows).unwrap_or_default())?;
        }
        if streams.iter().all(|stream| stream.child.is_none()) {
            let worst = documents.iter().map(|d| rows::severity(d)).max();
            return Ok(ExitCode::from(worst.unwrap_or(2)));
        }
        if !watch.pause()? {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

impl Stream {
    /// Stops the transport and makes the host one error row saying why.
    fn fail(&mut self, host: &str, end: End, fleet: &Fleet) {
        self.stop();
        let documents = match end {
            End::Exited(status) if status.success() => {
                vec![rows::failure(host, "the remote watch ended")]
            }
            end => {
                let finished = Finished {
                    end,
                    stdout: String::new(),
                    stderr: std::mem::take(&mut self.last_stderr),
                };
                rows::documents(host, &finished, &fleet.reach(), false)
            }
        };
        self.latest = documents
            .into_iter()
            .map(|document| ("null".to_owned(), document))
            .collect();
    }

    fn stop(&mut self) {
        if let Some(mut running) = self.child.take() {
            child::stop(&mut running);
        }
    }
}

/// However the watch ends (Ctrl-C, a closed stdout, an error), no transport outlives it.
impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}
