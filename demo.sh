#!/usr/bin/env bash
# Builds what the demo runs (release) and runs it: a worker plus an attach session.
# Only `demo`, `http-worker` and `attach` are built, without the async examples, so
# a first run compiles no tokio or axum. `attach` is linked statically at a fixed
# address (see "Building" in the README): it starts in about two thirds of the time.
set -euo pipefail
cd "$(dirname "$0")"
echo "building demo, http-worker and attach (release; the first build takes a few minutes)" >&2
cargo build --release --quiet -p attach-examples --no-default-features --bin demo --bin http-worker
cargo rustc --release --quiet -p attach-cli --bin attach -- -C target-feature=+crt-static -C relocation-model=static
exec target/release/demo "$@"
