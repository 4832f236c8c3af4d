#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the GPUs this
# executor may use as {"name": "gpu", "addresses": [...]}. LANDSHIFT_FAKE_GPUS="0,1" reports fake
# addresses, which tests use to exercise GPU scheduling on machines without a GPU.
set -euo pipefail
if [[ -n "${LANDSHIFT_FAKE_GPUS:-}" ]]; then
  addresses="${LANDSHIFT_FAKE_GPUS}"
elif command -v nvidia-smi >/dev/null 2>&1; then
  addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)
else
  addresses=""
fi
quoted=$(echo "${addresses}" | tr -d ' ' | sed -e 's/\([^,][^,]*\)/"\1"/g')
echo "{\"name\": \"gpu\", \"addresses\": [${quoted}]}"
