#!/usr/bin/env bash
# Runs every test suite of the repository, in this order:
#   0. formatting (cargo fmt --check) and clippy over the whole workspace, warnings as errors
#   1. Rust: the whole cargo workspace (engine, CLI, C ABI crate) in release mode
#   2. C and C++: scripts/test-c.sh (spec examples against static + shared lib, valgrind)
#   3. Python: scripts/test-python.sh (venv, pip install ., pytest)
# and ends with pytest's summary line. Any failure stops the run with a non-zero status.
#
# Needs: a Rust toolchain, gcc/g++, valgrind, pkg-config, python3 with venv (.ci/run installs
# the system packages on a fresh machine).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== [0/3] cargo fmt --check (rustfmt.toml), then cargo clippy --release --workspace --all-targets (with fault injection)"
cargo fmt --all -- --check
cargo fmt --manifest-path crates/lsm-vec-python/Cargo.toml --all -- --check
cargo clippy --release --workspace --all-targets --features lsm-vec/fault-injection -- -D warnings

echo "== [1/3] cargo test --release --workspace --features lsm-vec/fault-injection"
cargo test --release --workspace --features lsm-vec/fault-injection

echo "== [2/3] C and C++ tests"
scripts/test-c.sh

echo "== [3/3] Python tests"
scripts/test-python.sh
