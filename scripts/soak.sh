#!/usr/bin/env bash
# The long checks that do not fit the default `cargo test`: the full property run (10,000 cases
# from a fresh random seed; PROPTEST_CASES / PROPTEST_RNG_SEED to change) and the memory soak
# (a million tasks x 20 rounds, peak RSS flat after round 1). About a minute in release.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== property tests: ${PROPTEST_CASES:=10000} cases"
PROPTEST_CASES=$PROPTEST_CASES cargo test --release -p asyncio --test model -- --nocapture
echo "== soak: 1,000,000 tasks x 20 rounds"
cargo test --release -p asyncio --test soak -- --ignored --nocapture
echo "== soak.sh: all passed"
