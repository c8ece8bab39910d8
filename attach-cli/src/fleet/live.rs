//! `--watch` over several hosts: one live table.
//!
//! Each host runs one long `attach --json --watch` through its transport, and its
//! documents stream back line by line; every interval the latest value of each
//! (host, pid) is drawn, and a pid not heard of for a while (its worker went away) is
//! dropped. A transport that ends, or stays silent for longer than `--host-timeout`,
//! adds an error row for its host and is killed; Ctrl-C kills them all and leaves with
//! status 0, as a local watch does. Every transport is killed when its `Stream` is
//! dropped, however the watch ends.

use std::collections::BTreeMap;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{interrupt, json, render, status};
use serde_json::Value;

use super::child::{self, End, Finished};
use super::{rows, Fleet};
use crate::watch::Watch;
use crate::Args;

/// The key of a host's own row (a transport failure), next to its pids' rows.
const HOST_ROW: &str = "host";

/// One host's stream.
struct Stream {
    child: Option<Child>,
    /// Until the remote attach's stdout ends, its exit is not final: lines may still
    /// be on their way.
    stdout_open: bool,
    last_heard: Option<Instant>,
    started: Instant,
    last_stderr: String,
    /// The latest document for each pid (the key is the pid as JSON text), and when.
    latest: BTreeMap<String, (Instant, Value)>,
    /// Rows the stream added on its own (why it ended), not yet printed as JSON.
    news: Vec<Value>,
}

pub fn run(fleet: &Fleet, remote: &[String], expr: &str, args: &Args) -> anyhow::Result<u8> {
    let watch = Watch {
        expr,
        interval: args.interval,
        as_json: args.json,
    };
    // A pid kept this long without news has left; a host this long silent is stuck.
    let stale = fleet.host_timeout + 2 * args.interval;
    let (sender, receiver) = mpsc::channel();
    let mut streams: Vec<Stream> = fleet
        .hosts
        .iter()
        .enumerate()
        .map(|(index, host)| Stream::start(fleet, host, remote, index, &sender))
        .collect();
    drop(sender);
    loop {
        for ((index, is_stdout), line) in receiver.try_iter() {
            let stream = &mut streams[index];
            match (is_stdout, line) {
                (true, Some(line)) => {
                    for document in stream.heard(&fleet.hosts[index], line, fleet) {
                        if watch.as_json {
                            json::print(&document)?;
                        }
                        let key = document["pid"].to_string();
                        stream.latest.insert(key, (Instant::now(), document));
                    }
                }
                (true, None) => stream.stdout_open = false,
                (false, Some(line)) if !line.trim().is_empty() => stream.last_stderr = line,
                _ => {}
            }
        }
        for (stream, host) in streams.iter_mut().zip(&fleet.hosts) {
            stream.check(host, fleet, stale);
            for document in std::mem::take(&mut stream.news) {
                if watch.as_json {
                    json::print(&document)?;
                }
            }
        }
        if interrupt::requested() {
            return Ok(status::OK);
        }
        let documents: Vec<&Value> = streams
            .iter()
            .flat_map(|stream| stream.latest.values().map(|(_, document)| document))
            .collect();
        if !watch.as_json {
            let rows: Vec<Value> = documents.iter().map(|d| rows::table_row(d)).collect();
            let title = format!("attach --watch {expr:?} on {} hosts", fleet.hosts.len());
            watch.draw(&title, &render::table(&rows).unwrap_or_default())?;
        }
        if streams.iter().all(|stream| stream.child.is_none()) {
            let worst = documents.iter().map(|d| rows::severity(d)).max();
            return Ok(worst.unwrap_or(status::NOT_CONNECTED));
        }
        if !watch.pause()? {
            return Ok(status::OK);
        }
    }
}

impl Stream {
    /// Starts the remote watch on `host`; its lines arrive on `sender` tagged `index`.
    fn start(
        fleet: &Fleet,
        host: &str,
        remote: &[String],
        index: usize,
        sender: &mpsc::Sender<((usize, bool), Option<String>)>,
    ) -> Stream {
        let mut stream = Stream {
            child: None,
            stdout_open: true,
            last_heard: None,
            started: Instant::now(),
            last_stderr: String::new(),
            latest: BTreeMap::new(),
            news: Vec::new(),
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
            Err(err) => stream.end(host, End::NotStarted(std::io::Error::other(err)), fleet),
        }
        stream
    }

    /// The documents in one line the remote attach printed.
    fn heard(&mut self, host: &str, line: String, fleet: &Fleet) -> Vec<Value> {
        self.last_heard = Some(Instant::now());
        let finished = Finished {
            end: End::Exited(ExitStatus::default()),
            stdout: line,
            stderr: String::new(),
        };
        rows::documents(host, &finished, &fleet.reach(), false)
    }

    /// Ends the stream when its transport exited or went silent; forgets old pids.
    fn check(&mut self, host: &str, fleet: &Fleet, stale: Duration) {
        let Some(running) = self.child.as_mut() else {
            return;
        };
        let silent_since = self.last_heard.unwrap_or(self.started);
        if !self.stdout_open {
            if let Ok(Some(status)) = running.try_wait() {
                return self.end(host, End::Exited(status), fleet);
            }
        }
        if silent_since.elapsed() > stale {
            return self.end(host, End::TimedOut(fleet.host_timeout), fleet);
        }
        self.latest.retain(|_, (when, _)| when.elapsed() <= stale);
    }

    /// Stops the transport and adds a row saying why the host has no more news. When
    /// the remote attach said nothing at all, its exit status tells why (as in a
    /// fan-out); otherwise its last documents stay, they say what it knew.
    fn end(&mut self, host: &str, end: End, fleet: &Fleet) {
        self.stop();
        let documents = match end {
            End::Exited(status) if self.last_heard.is_some() => {
                vec![rows::failure(
                    host,
                    &format!("the remote watch ended ({status})"),
                )]
            }
            end => {
                self.latest.clear();
                let finished = Finished {
                    end,
                    stdout: String::new(),
                    stderr: std::mem::take(&mut self.last_stderr),
                };
                rows::documents(host, &finished, &fleet.reach(), false)
            }
        };
        let now = Instant::now();
        for (n, document) in documents.into_iter().enumerate() {
            self.news.push(document.clone());
            self.latest
                .insert(format!("{HOST_ROW}{n}"), (now, document));
        }
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
