//! A worker for the scaling benchmarks: registers a map of `--entries` entries and
//! idles. Prints `ready` once the agent is installed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clap::Parser;
use server_agent::Agent;

#[derive(Parser)]
struct Args {
    /// Entries in the registered map `table`.
    #[arg(long, default_value_t = 10)]
    entries: usize,
}

fn main() {
    let args = Args::parse();
    let table: BTreeMap<String, u64> = (0..args.entries)
        .map(|i| (format!("k{i}"), i as u64))
        .collect();
    let _agent = Agent::builder()
        .live(
            "table",
            "a map of --entries entries",
            Arc::new(Mutex::new(table)),
        )
        .install()
        .expect("install the agent");
    println!("ready");
    loop {
        std::thread::park();
    }
}
