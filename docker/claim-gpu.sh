#!/usr/bin/env bash
# Give this worker a GPU of its own, then run the command.
#
# Compose hands every replica of a service the same GPUs, so `--scale worker=N` alone would put
# N workers on GPU 0. Replicas on one host share a lock directory (a volume); each takes an
# exclusive flock on the first free GPU's lock file and keeps it for its whole life: the lock's
# file descriptor survives `exec`, and the kernel releases it when the worker exits, however
# it exits, so a crashed worker never leaves its GPU claimed.
set -euo pipefail

lock_dir="${GPU_LOCK_DIR:-/var/lib/t2v/gpu-locks}"
retry_s="${GPU_CLAIM_RETRY_S:-10}"

# A GPU chosen by hand, or no NVIDIA driver to ask: nothing to claim.
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]] || ! command -v nvidia-smi >/dev/null; then
  exec "$@"
fi

# UUIDs, not indexes: CUDA's index order can differ from nvidia-smi's, a UUID cannot.
mapfile -t gpus < <(nvidia-smi --query-gpu=uuid --format=csv,noheader | tr -d '[:blank:]')
if ((${#gpus[@]} == 0)); then
  echo "claim-gpu: nvidia-smi lists no GPU" >&2
  exit 1
fi

mkdir -p "$lock_dir"
waiting_announced=""
while true; do
  for gpu in "${gpus[@]}"; do
    exec 9>"$lock_dir/$gpu.lock"
    if flock --nonblock 9; then
      echo "claim-gpu: using $gpu" >&2
      export CUDA_VISIBLE_DEVICES="$gpu"
      exec "$@"
    fi
    exec 9>&-
  done
  if [[ -z "$waiting_announced" ]]; then
    echo "claim-gpu: all ${#gpus[@]} GPUs are held by other workers on this host; waiting for one" >&2
    waiting_announced=1
  fi
  sleep "$retry_s"
done
