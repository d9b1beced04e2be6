#!/usr/bin/env bash
# Builds the WASI conformance programs into OUT_DIR (default: ./out):
#   wasi-<name>.wasm   one per c/<name>.c (wasi-libc) and per rust/src/bin/<name>.rs (std::fs + wasi)
# Needs: clang-19 + wasi-libc, cargo + the wasm32-wasip1 target.
# Usage: tests/wasi/build.sh [OUT_DIR] [c|rust]...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
shift || true
mkdir -p "$out"
out="$(cd "$out" && pwd)"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(c rust)
CLANG="${CLANG:-clang-19}"

log() { printf 'wasi suite: %s\n' "$*" >&2; }

build_c() {
  local src name
  for src in "$here"/c/*.c; do
    name="$(basename "$src" .c)"
    log "wasi-$name (C)"
    "$CLANG" --target=wasm32-wasi -O2 -Wall -Wextra -Werror "$src" -o "$out/wasi-$name.wasm"
  done
}

build_rust() {
  local src name
  log "Rust programs"
  cargo build --quiet --release --locked --target wasm32-wasip1 \
    --manifest-path "$here/rust/Cargo.toml" --target-dir "$out/.rust-target"
  for src in "$here"/rust/src/bin/*.rs; do
    name="$(basename "$src" .rs)"
    cp "$out/.rust-target/wasm32-wasip1/release/$name.wasm" "$out/wasi-$name.wasm"
  done
}

for part in "${parts[@]}"; do
  case "$part" in
    c) build_c ;;
    rust) build_rust ;;
    *) log "unknown part '$part' (c, rust)"; exit 2 ;;
  esac
done
ls -1 "$out"/wasi-*.wasm >&2
