#!/usr/bin/env bash
# The measurement campaign behind data/measured/ (issue 18): two dense 8B models on one GPU,
# CUDA graphs on and off, the same seeded plan in both modes. Sized for a short GPU lease:
# budget 2048 tokens per step, 256 sequences, 3 timed reps after 1 warm-up, and a time cap per
# run (runs are shuffled, so a capped run is still a spread-out sample of the plan).
#   usage: bash tools/gpu-steps/campaign.sh OUT_DIR [GPU_NAME]
# Logs go to OUT_DIR/../gpu-steps-logs (or $LOG_DIR). Exit status: 0 when every run wrote records.
set -u
out=${1:?usage: campaign.sh OUT_DIR [GPU_NAME]}
gpu=${2:-h200}
logs=${LOG_DIR:-/tmp/gpu-steps-logs}
mkdir -p "$out" "$logs"
here=$(cd "$(dirname "$0")" && pwd)
common=(--gpu-name "$gpu" --out-dir "$out" --seed 0 --budget 2048 --max-num-seqs 256 --reps 3 --warmup 1 ${DRY:+--dry-run --gpu-mem-gib 139})
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv 2>&1 | head -3
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")' 2>&1
rc=0
run() { # name minutes extra-args...
  local name=$1 mins=$2; shift 2
  local t0=$SECONDS
  python3 "$here/harness.py" "${common[@]}" --model-name "$name" --max-minutes "$mins" "$@" >"$logs/$name.log" 2>&1
  local st=$?
  echo "== $name: exit $st after $((SECONDS - t0)) s"; grep -v '^\[[0-9]*/' "$logs/$name.log" | tail -n 6
  [ "$st" -eq 0 ] || [ "$st" -eq 3 ] || rc=1
}
run llama-3.1-8b-cudagraph 2.6 --config "$here/../../configs/models/llama-3.1-8b.json" --cuda-graphs
run qwen3-8b-cudagraph     2.6 --config "$here/../../configs/models/qwen3-8b.json" --cuda-graphs
run llama-3.1-8b           1.5 --config "$here/../../configs/models/llama-3.1-8b.json"
run qwen3-8b               1.5 --config "$here/../../configs/models/qwen3-8b.json"
ls -la "$out"
exit $rc
