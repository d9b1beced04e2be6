#!/usr/bin/env bash
# Boots smoke.c (a hand-written module descriptor, see its header) on the unikernels and checks
# the kernel's app runtime scenario by scenario: WASI args/env/clock/random/EFAULT, stderr,
# proc_exit, memory.grow and mewz.memory, out-of-bounds / explicit / unknown traps, the
# stack guard, poll_oneoff sleeping, fd_read with end of file.
# Links exactly like `mewz build`: targets/<t>/link.ld + link_args from targets/<t>/target.toml.
# Usage: examples/runtime-smoke/check.sh [x86_64|aarch64]...   (default: both)
# Env: CARGO_TARGET_DIR (where the kernel archives are built), KEEP=dir to keep the images.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64 aarch64)
work="${KEEP:-$(mktemp -d)}"
mkdir -p "$work"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
failures=0

toml() { # toml FILE KEY -> value (lists space-separated)
  python3 - "$1" "$2" <<'PY'
import sys, tomllib
v = tomllib.load(open(sys.argv[1], "rb"))
for k in sys.argv[2].split("."):
    v = v[k]
print(" ".join(v) if isinstance(v, list) else v)
PY
}

# boot TARGET IMAGE CMDLINE STDIN_TEXT -> sets OUT, ERR, STATUS
boot() {
  local t=$1 image=$2 cmdline=$3 input=$4 toml_file="$root/targets/$1/target.toml"
  local qemu; qemu=$(toml "$toml_file" qemu.binary)
  local -a qargs; read -r -a qargs <<<"$(toml "$toml_file" qemu.args)"
  local -a exitdev
  rm -f "$work/err" "$work/exit"
  case $(toml "$toml_file" exit) in
    isa-debug-exit) exitdev=(-device isa-debug-exit,iobase=0xf4,iosize=0x04
                             -chardev "file,id=mewzexit,path=$work/exit" -device isa-debugcon,iobase=0xe9,chardev=mewzexit) ;;
    semihosting) exitdev=(-semihosting-config enable=on,target=native) ;;
  esac
  set +e
  OUT=$( { if [ -n "$input" ]; then sleep 2; printf '%b' "$input"; sleep 10; fi; } |
    timeout 60 "$qemu" -accel tcg "${qargs[@]}" -display none -monitor none -no-reboot -kernel "$image" \
      -append "$cmdline" -serial stdio -serial "file:$work/err" "${exitdev[@]}" 2>/dev/null)
  STATUS=$?
  set -e
  if [ -s "$work/exit" ]; then STATUS=$(od -An -tu1 "$work/exit" | tr -d ' \n'); fi
  ERR=$(cat "$work/err" 2>/dev/null || true)
}

# expect NAME STATUS 'stdout needle|...' 'stderr needle|...'
expect() {
  local name=$1 status=$2 outs=$3 errs=$4 ok=1 n
  [ "$STATUS" = "$status" ] || { echo "  status $STATUS, want $status"; ok=0; }
  IFS='|' read -r -a n <<<"$outs"; for x in "${n[@]}"; do grep -qF -- "$x" <<<"$OUT" || { echo "  stdout lacks: $x"; ok=0; }; done
  IFS='|' read -r -a n <<<"$errs"; for x in "${n[@]}"; do grep -qF -- "$x" <<<"$ERR" || { echo "  stderr lacks: $x"; ok=0; }; done
  if [ $ok = 1 ]; then echo "ok   $name"; else echo "FAIL $name"; printf '  stdout: %s\n  stderr: %s\n' "$OUT" "$ERR"; failures=$((failures + 1)); fi
}

for t in "${targets[@]}"; do
  toml_file="$root/targets/$t/target.toml"
  rust_target=$(toml "$toml_file" rust_target)
  triple=$t-unknown-none-elf   # the compiler owns LLVM triples; clang only needs the arch
  echo "== $t: building the kernel archive"
  (cd "$root" && cargo build --quiet -p "mewz-arch-$t" --target "$rust_target" --profile kernel)
  archive="$target_dir/$rust_target/kernel/libmewz_arch_${t}.a"
  case $t in
    x86_64) cflags=(-mcmodel=kernel -mno-red-zone -fno-pic) ;;
    aarch64) cflags=(-mgeneral-regs-only -fPIC) ;;
  esac
  clang-19 --target="$triple" -O2 -ffreestanding -fno-stack-protector "${cflags[@]}" -c "$here/smoke.c" -o "$work/smoke-$t.o"
  # A baked configuration the way `mewz build` emits it: a plain allocated read-only section
  # (cli/src/image.rs, config_object), no retain flag.
  printf '.section mewz_config,"a",%%progbits\n.ascii "mewz.name=baked mewz.env=BAKED=yes mewz.env=GREETING=baked -- hello b"\n' \
    | clang-19 --target="$triple" -c -x assembler - -o "$work/config-$t.o"
  read -r -a link_args <<<"$(toml "$toml_file" link_args)"
  link() { # link OUTPUT OBJECTS...
    local output=$1; shift
    ld.lld-19 -T "$root/targets/$t/link.ld" "${link_args[@]}" -o "$output.elf" "$@" "$archive"
    if [ "$(toml "$toml_file" image)" = binary ]; then
      llvm-objcopy-19 -O binary "$output.elf" "$output.img"; echo "$output.img"
    else
      echo "$output.elf"
    fi
  }
  image=$(link "$work/smoke-$t" "$work/smoke-$t.o")
  baked=$(link "$work/baked-$t" "$work/smoke-$t.o" "$work/config-$t.o")

  boot "$t" "$image" "mewz.env=GREETING=hi mewz.name=smoke -- hello a" ""
  expect "$t hello" 3 "argc=3|argv: smoke|argv: hello|argv: a|env: GREETING=hi|random errno: 0|bad pointer errno: 21" "to stderr"
  boot "$t" "$baked" "" ""
  expect "$t baked configuration" 3 "argv: baked|argv: hello|argv: b|env: BAKED=yes|env: GREETING=baked" ""
  boot "$t" "$baked" "mewz.env=GREETING=boot -- hello" ""
  expect "$t boot line over baked configuration" 2 "argv: baked|env: BAKED=yes|env: GREETING=boot" ""
  boot "$t" "$image" "-- grow" ""
  expect "$t memory.grow" 0 "grow 3 -> 2|size 5|grow 1000 -> 4294967295" ""
  boot "$t" "$image" "mewz.memory=256K -- grow" ""
  expect "$t mewz.memory caps memory.grow" 0 "grow 3 -> 4294967295|size 2" ""
  boot "$t" "$image" "mewz.memory=64K -- hello" ""
  expect "$t mewz.memory below the minimum" 253 "" "cannot start the app|mewz.memory allows 64 KiB"
  boot "$t" "$image" "-- oob" ""
  expect "$t out-of-bounds fault" 134 "reading past the end" "wasm trap: out of bounds memory access"
  boot "$t" "$image" "-- trap" ""
  expect "$t __mewz_trap" 134 "" "wasm trap: integer overflow"
  boot "$t" "$image" "-- badtrap" ""
  expect "$t unknown trap code" 250 "" "kernel panic|unknown trap code 99"
  boot "$t" "$image" "-- stack" ""
  expect "$t stack guard" 134 "limit set: 1" "wasm trap: call stack exhausted"
  boot "$t" "$image" "-- sleep" ""
  expect "$t poll_oneoff sleep" 0 "poll errno: 0|slept ms: 1" ""
  boot "$t" "$image" "-- echo" 'hello\n\x04'
  expect "$t fd_read until EOF" 0 "read 0 errno 0|echo: hello" ""
done
[ -n "${KEEP:-}" ] || rm -rf "$work"
echo "runtime smoke: $failures failure(s)"
[ "$failures" = 0 ]
