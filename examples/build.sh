#!/usr/bin/env bash
# Builds every example into OUT_DIR (default: ./out):
#   hello-rust.wasm  hello-c.wasm  hello-go.wasm   print args, GREETING, time, a random number;
#                                                  exit with the first numeric argument
#   trap-<kind>.wasm                                one wasm trap each, kind as in the file name
#                                                  (the spec's trap message with '-' for ' ')
#   wasi-probe.wasm                                 errnos of odd preview1 calls (wasi-probe/)
#   cat.wasm printf.wasm spin.wasm yes.wasm         console programs (console/)
# Needs: cargo + the wasm32-wasip1 target, clang-19 + wasi-libc, Go 1.22, wabt (wat2wasm).
# Usage: examples/build.sh [OUT_DIR] [rust|c|go|traps|probe|console]...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
shift || true
mkdir -p "$out"
out="$(cd "$out" && pwd)"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust c go traps probe console)
GO="${GO:-/usr/lib/go-1.22/bin/go}"
CLANG="${CLANG:-clang-19}"

log() { printf 'examples: %s\n' "$*" >&2; }

build_rust() {
  log "hello-rust"
  cargo build --quiet --release --target wasm32-wasip1 \
    --manifest-path "$here/hello-rust/Cargo.toml" --target-dir "$out/.rust-target"
  cp "$out/.rust-target/wasm32-wasip1/release/hello-rust.wasm" "$out/hello-rust.wasm"
}

build_c() {
  log "hello-c"
  "$CLANG" --target=wasm32-wasi -O2 -Wall -Werror "$here/hello-c/hello.c" -o "$out/hello-c.wasm"
}

build_probe() {
  log "wasi-probe"
  "$CLANG" --target=wasm32-wasi -O2 -Wall -Werror "$here/wasi-probe/probe.c" -o "$out/wasi-probe.wasm"
}

build_console() {
  local c
  for c in "$here"/console/*.c; do
    log "$(basename "$c" .c)"
    "$CLANG" --target=wasm32-wasi -O2 -Wall -Werror "$c" -o "$out/$(basename "$c" .c).wasm"
  done
}

build_go() {
  log "hello-go"
  (cd "$here/hello-go" && GOOS=wasip1 GOARCH=wasm GOCACHE="${GOCACHE:-$out/.go-cache}" \
    GOFLAGS=-mod=mod "$GO" build -o "$out/hello-go.wasm" .)
}

build_traps() {
  local wat name
  for wat in "$here"/traps/*.wat; do
    name="$(basename "$wat" .wat)"
    log "trap-$name"
    wat2wasm --enable-all "$wat" -o "$out/trap-$name.wasm"
  done
}

for part in "${parts[@]}"; do
  case "$part" in
    rust) build_rust ;;
    c) build_c ;;
    go) build_go ;;
    traps) build_traps ;;
    probe) build_probe ;;
    console) build_console ;;
    *) log "unknown part '$part' (rust, c, go, traps, probe, console)"; exit 2 ;;
  esac
done
ls -1 "$out"/*.wasm >&2
