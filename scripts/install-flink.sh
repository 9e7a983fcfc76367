#!/usr/bin/env bash
# Installs Apache Flink for the side-by-side benchmark (scripts/bench-flink.sh)
# and its smoke test, skipping what is already there: a JDK 17 (Debian
# openjdk-17-jdk-headless; javac compiles the DataStream job) and the PyPI
# package apache-flink (about 450 MB) in a venv of its own.
set -euo pipefail
say() { printf '==> %s\n' "$*" >&2; }
FLINK_VERSION=2.3.0
FLINK_VENV="${FLINK_VENV:-$HOME/.cache/tidemark-flink-venv}"
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  say "installing openjdk-17-jdk-headless (Debian package) for Flink"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null
  fi
else
  say "Flink: $(java -version 2>&1 | head -1) already installed"
fi
if ! "$FLINK_VENV/bin/python" -c 'import pyflink' >/dev/null 2>&1; then
  say "installing apache-flink==$FLINK_VERSION into $FLINK_VENV (about 450 MB, a minute)"
  python3 -m venv "$FLINK_VENV"
  "$FLINK_VENV/bin/pip" install -q "apache-flink==$FLINK_VERSION"
else
  say "Flink: $FLINK_VENV already has apache-flink"
fi
