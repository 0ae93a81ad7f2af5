#!/usr/bin/env bash
# Leaks: every example and a test binary under valgrind's memcheck; any byte definitely lost (or
# any memory error) fails the run. Usage: scripts/valgrind.sh [test-binary-name ...]
# (default: unsafe_paths, task, gather — the stories that cover spawning, cancelling, panicking,
# gathers in every mode and cross-thread wakes, small enough for valgrind's ~50x slowdown).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
  echo "valgrind is not installed: apt-get install -y valgrind" >&2
  exit 2
fi
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(unsafe_paths task gather)
fi

# Without the default `mimalloc` feature: memcheck tracks blocks of the global allocator only, so
# task blocks from mimalloc would leak unseen. The task logic is the same either way.
features=(--no-default-features)
cargo build -q -p asyncio --examples "${features[@]}"
# Exit code 99 = valgrind found an error (some seed programs exit 1 on purpose, as their Python
# originals end with a traceback).
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
    --show-leak-kinds=definite)

failed=0
for src in asyncio/examples/*.rs; do
  name=$(basename "$src" .rs)
  echo "== valgrind example $name"
  status=0
  case "$name" in
    # Servers and the Ctrl-C demo run until interrupted: give them a moment, then Ctrl-C.
    ctrl_c | echo_server) cmd=(timeout -s INT 20 "${vg[@]}" "target/debug/examples/$name") ;;
    # A small run: valgrind is ~50x slower than the real thing.
    gather_clients) cmd=("${vg[@]}" "target/debug/examples/$name" --clients 20 --messages 5) ;;
    *) cmd=("${vg[@]}" "target/debug/examples/$name") ;;
  esac
  "${cmd[@]}" >/dev/null 2>"target/valgrind-$name.log" || status=$?
  if [ "$status" -eq 99 ]; then
    cat "target/valgrind-$name.log" >&2
    echo "!! example $name: definite leak or memory error" >&2
    failed=1
  fi
done
for t in "${tests[@]}"; do
  # The test binary cargo built for this target (the newest if several).
  bin=$(cargo test -q -p asyncio "${features[@]}" --test "$t" --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
  echo "== valgrind test $t ($bin)"
  # One test thread: valgrind serializes threads anyway, and the output stays readable.
  if ! "${vg[@]}" "$bin" --test-threads=1 -q; then
    echo "!! test $t: definite leak, memory error or failing test" >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "== valgrind: FAILED" >&2
  exit 1
fi
echo "== valgrind: 0 bytes definitely lost, no memory errors"
