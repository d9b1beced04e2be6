#!/usr/bin/env bash
# Builds every example into OUT_DIR (default: ./out):
#   hello-rust.wasm  hello-c.wasm  hello-go.wasm   print args, GREETING, time, a random number;
#                                                  exit with the first numeric argument
#   trap-<kind>.wasm                                one wasm trap each, kind as in the file name
#                                                  (the spec's trap message with '-' for ' ')
#   wasi-probe.wasm                                 errnos of odd preview1 calls (wasi-probe/)
#   simd-rust.wasm  simd-rust-scalar.wasm          BLAKE3 and an image filter, built with wasm
#                                                  SIMD (+simd128) and without (simd-rust/)
#   cat.wasm printf.wasm spin.wasm yes.wasm         console programs (console/)
#   files-{tour,probe,digest,limits}.wasm           guests for --dir (files/, see tests/files.rs)
#   http-server.wasm                                static-file HTTP server, WasmEdge socket API
#   http-server-preopened.wasm                      the same on a preopened listener (--tcplisten)
#   hyper-server.wasm                               HTTP server on tokio_wasi + hyper_wasi
#   udp-echo.wasm  http-client.wasm                 UDP echo server; fetch a URL, print the body
# Needs: cargo + the wasm32-wasip1 target, clang-19 + wasi-libc, Go 1.22, wabt (wat2wasm).
# Usage: examples/build.sh [OUT_DIR] [rust|c|go|traps|probe|simd|console|files|net]...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
shift || true
mkdir -p "$out"
out="$(cd "$out" && pwd)"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust c go traps probe simd console files net)
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

build_simd() {
  local manifest="$here/simd-rust/Cargo.toml"
  log "simd-rust (wasm SIMD)"
  RUSTFLAGS="-C target-feature=+simd128" cargo build --quiet --release --target wasm32-wasip1 \
    --features simd --manifest-path "$manifest" --target-dir "$out/.rust-target-simd"
  cp "$out/.rust-target-simd/wasm32-wasip1/release/simd-rust.wasm" "$out/simd-rust.wasm"
  log "simd-rust-scalar"
  RUSTFLAGS="" cargo build --quiet --release --target wasm32-wasip1 \
    --manifest-path "$manifest" --target-dir "$out/.rust-target-scalar"
  cp "$out/.rust-target-scalar/wasm32-wasip1/release/simd-rust.wasm" "$out/simd-rust-scalar.wasm"
}

build_console() {
  local c
  for c in "$here"/console/*.c; do
    log "$(basename "$c" .c)"
    "$CLANG" --target=wasm32-wasi -O2 -Wall -Werror "$c" -o "$out/$(basename "$c" .c).wasm"
  done
}

build_files() {
  local name
  for name in tour probe digest limits; do
    log "files-$name"
    "$CLANG" --target=wasm32-wasi -O2 -Wall -Werror "$here/files/$name.c" -o "$out/files-$name.wasm"
  done
}

build_go() {
  log "hello-go"
  (cd "$here/hello-go" && GOOS=wasip1 GOARCH=wasm GOCACHE="${GOCACHE:-$out/.go-cache}" \
    GOFLAGS=-mod=mod "$GO" build -o "$out/hello-go.wasm" .)
}

build_net() {
  local app
  log "net: http-server http-server-preopened hyper-server udp-echo http-client"
  # --locked: the versions in net/Cargo.lock are the ones checked to build (tokio_wasi and
  # hyper_wasi are old forks; newer versions of their dependencies may not).
  cargo build --quiet --locked --release --target wasm32-wasip1 --workspace \
    --manifest-path "$here/net/Cargo.toml" --target-dir "$out/.net-target"
  for app in http-server http-server-preopened hyper-server udp-echo http-client; do
    cp "$out/.net-target/wasm32-wasip1/release/$app.wasm" "$out/$app.wasm"
  done
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
    simd) build_simd ;;
    console) build_console ;;
    files) build_files ;;
    net) build_net ;;
    *) log "unknown part '$part' (rust, c, go, traps, probe, simd, console, files, net)"; exit 2 ;;
  esac
done
ls -1 "$out"/*.wasm >&2
