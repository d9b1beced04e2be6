# Environment for the project's scripts: toolchains and the tools ci/setup installs locally.
# Sourced, not run.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_root/.tools/bin:$HOME/.cargo/bin:$PATH"
export LLVM_SYS_191_PREFIX=/usr/lib/llvm-19
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
unset _root
