#!/usr/bin/env bash
# Sourced by install-test-deps.sh and fuzz.sh.
# The tests' Python venv with prometheus-client, Prometheus' reference parser
# of both text formats (the exposition tests and the exposition fuzz target).
export TIDEMARK_VENV="${TIDEMARK_VENV:-$HOME/.cache/tidemark-venv}"
ensure_test_venv() {
  if ! "$TIDEMARK_VENV/bin/python" -c 'import prometheus_client' >/dev/null 2>&1; then
    say "creating Python venv $TIDEMARK_VENV with prometheus-client"
    python3 -m venv "$TIDEMARK_VENV"
    "$TIDEMARK_VENV/bin/pip" install -q prometheus-client
  else
    say "python venv: $TIDEMARK_VENV already has prometheus-client"
  fi
}
