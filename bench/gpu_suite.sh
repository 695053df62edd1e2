#!/usr/bin/env bash
# The GPU benchmark suite in one command (about 10 minutes on one GPU):
# translator gpu-preset training throughput (bf16, XLA, tokens/s, MFU),
# long attention with fused-kernel routing, decoding and generation.
# Writes <out-dir>/gpu_suite.json and gpu_suite.md; see bench/gpu_suite.py.
#   bash bench/gpu_suite.sh                  # on a machine with a GPU
#   bash bench/gpu_suite.sh --smoke          # toy sizes on CPU (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# JAX may take the whole GPU only where TensorFlow does not run beside it.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
exec "${PYTHON:-python}" bench/gpu_suite.py "$@"
