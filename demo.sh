#!/usr/bin/env bash
# Builds everything (release) and runs the demo: a worker plus an attach session.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
exec target/release/demo "$@"
