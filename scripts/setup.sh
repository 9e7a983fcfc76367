#!/usr/bin/env bash
# Installs what building and testing Tidemark needs on a fresh Debian machine
# of this kind, skipping what is already there, and says what it does.
# Sourced by run.sh, test.sh and bench.sh.
set -euo pipefail

say() { printf '==> %s\n' "$*" >&2; }

# One target directory outside the clone, shared by every command and by CI,
# so the release build (and later RocksDB's C++) is compiled once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tidemark-target}"

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "cargo is not installed: install the Rust toolchain (rustup) first"
    exit 1
  fi
fi

# Debian packages the build needs: libclang-dev for RocksDB's bindings
# (bindgen), g++ for RocksDB's C++.
APT_PACKAGES=(libclang-dev g++)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "system packages: nothing to install"
fi
say "cargo: $(cargo --version); target dir: $CARGO_TARGET_DIR"

