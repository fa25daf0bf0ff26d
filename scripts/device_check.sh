#!/usr/bin/env bash
# Device check (issue 14): on a machine with a CUDA GPU, train the Qwen3 architecture at the
# Qwen3-0.6B sizes (hidden 1024, 28 layers, 16/8 heads of 128, MLP 3072; random weights from the
# config, the digit task's 16-token character vocabulary) for a few bf16 steps with the runner,
# then probe the saved model: the last layer (Lanczos top-4 eigenpairs, lam_min, Hutchinson trace,
# RL gradient, S1/A1) and all parameters (top eigenvalue: the few-vector Lanczos on the GPU).
#
#   bash scripts/device_check.sh            # needs a CUDA GPU; stops at once (exit 3) without one
#   bash scripts/device_check.sh --smoke    # the same steps at tiny sizes on the CPU (or DEVICE_CHECK_SMOKE=1)
#
# Everything it writes goes to one folder, $OUT if set, else ./device_check_out: device_check.log
# (what ran, the GPU), timings.txt ("<step> seconds <s>"), runner.log, probe.log, probe.json,
# probe_all.json, run_log.jsonl and run_meta.json. The checkpoint and the expert data go to a scratch folder
# ($DEVICE_CHECK_WORK, else a temporary one). Each step runs under `timeout`; on an H200 the whole
# check is sized to take about 2-4 minutes, well inside 10.
set -euo pipefail

SMOKE=${DEVICE_CHECK_SMOKE:-0}
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/device_check_out}
WORK=${DEVICE_CHECK_WORK:-$(mktemp -d)}
[[ -z ${DEVICE_CHECK_WORK:-} ]] && trap 'rm -rf "$WORK"' EXIT
PYTHON=${PYTHON:-python}
export PYTHONPATH="$ROOT/theory:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT" "$WORK"
: >"$OUT/timings.txt"
cd "$ROOT"

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/device_check.log" >&2; }

# timed NAME LOGFILE LIMIT_S CMD...: run CMD under `timeout`, its output to LOGFILE, its wall time to timings.txt.
timed() {
    local name=$1 logfile=$2 limit=$3 start status=0
    shift 3
    log "$name: $*"
    start=$(date +%s.%N)
    timeout "$limit" "$@" >>"$logfile" 2>&1 || status=$?
    echo "$name seconds $(echo "$(date +%s.%N) - $start" | bc)" >>"$OUT/timings.txt"
    if [[ $status -ne 0 ]]; then
        log "$name FAILED (exit $status$([[ $status -eq 124 ]] && echo ', timed out after '"$limit"' s')); last lines of $logfile:"
        tail -n 30 "$logfile" >&2
        exit "$status"
    fi
}

if [[ $SMOKE == 1 ]]; then
    DEVICE=cpu DTYPE=fp32 LAST='model.layers.0.*' THREADS=1
    LAST_OPTS=(--k 1 --trace-samples 2 --lanczos-steps 6 --max-prompts 4 --samples-per-prompt 4)
    ALL_OPTS=(--lanczos-steps 4 --max-prompts 2 --samples-per-prompt 2)
    SIZES=(--hidden-size 16 --num-layers 1 --num-heads 2 --num-kv-heads 1 --head-dim 8 --intermediate-size 32)
    log "smoke mode: tiny sizes on the CPU"
else
    DEVICE=cuda DTYPE=bf16 LAST='model.layers.27.*' THREADS=4
    LAST_OPTS=(--k 3 --trace-samples 8 --lanczos-steps 40 --max-prompts 16 --samples-per-prompt 8)
    ALL_OPTS=(--lanczos-steps 20 --max-prompts 8 --samples-per-prompt 4)
    SIZES=(--hidden-size 1024 --num-layers 28 --num-heads 16 --num-kv-heads 8 --head-dim 128 --intermediate-size 3072)
    if ! timeout 120 "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
        log "device_check: no CUDA GPU visible to torch; nothing was run (bash scripts/device_check.sh --smoke checks the CPU path)"
        exit 3
    fi
    nvidia-smi >>"$OUT/device_check.log" 2>&1 || true
fi
MODEL_DIR="$WORK/run/model"
HAS_RUNNER_FLAGS=0
RUNNER_HELP=$("$PYTHON" -m simulations.qwen3 --help 2>/dev/null || true)
[[ $RUNNER_HELP == *--dtype* && $RUNNER_HELP == *--device* ]] && HAS_RUNNER_FLAGS=1
if [[ $HAS_RUNNER_FLAGS == 0 && $SMOKE == 0 ]]; then
    log "device_check: 'python -m simulations.qwen3' has no --dtype/--device (the runner half of issue 14 is missing)"
    exit 4
fi

# One Python start (imports are slow on a busy machine): the versions, the expert data (the runner's
# digit task: reverse 2 digits, expert pass rate 0.6, with the verifier's answer) and, only where the
# runner cannot run (smoke mode on a branch without its --dtype/--device), a tiny checkpoint built the
# runner's way, so that the probe half is still checked.
[[ $HAS_RUNNER_FLAGS == 0 ]] && log "runner without --dtype/--device on this branch: smoke mode probes a tiny checkpoint built directly"
"$PYTHON" - "$WORK/expert.jsonl" "$MODEL_DIR" "$HAS_RUNNER_FLAGS" >>"$OUT/device_check.log" 2>&1 <<'EOF'
import json, sys
import numpy as np
import torch, transformers, trl
from simulations.qwen3.task import DigitTask
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "trl", trl.__version__)
task = DigitTask()
with open(sys.argv[1], "w") as handle:
    for row in task.sample("expert", 64, np.random.default_rng(0)):
        handle.write(json.dumps({**row, "answer": task.correct_answer(row["prompt"])}) + "\n")
if sys.argv[3] == "0":
    from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
    tokenizer = build_char_tokenizer()
    build_tiny_qwen3(tokenizer, TinyQwen3Size(16, 1, 2, 1, 8, 32), seed=0).save_pretrained(sys.argv[2])
    tokenizer.save_pretrained(sys.argv[2])
EOF

if [[ $HAS_RUNNER_FLAGS == 1 ]]; then
    timed runner "$OUT/runner.log" 420 "$PYTHON" -m simulations.qwen3 --out "$WORK/run" --model tiny \
        --dtype "$DTYPE" --device "$DEVICE" "${SIZES[@]}" --threads "$THREADS" --pipeline sft-rl \
        --pretrain-steps 2 --sft-steps 4 --rl-steps 4 --eval-every 2 --pretrain-size 256 --sft-train-size 256 \
        --sft-batch-size 16 --rl-prompts-per-step 4 --num-generations 4 --samples-per-prompt 2
    cp "$WORK/run/log.jsonl" "$OUT/run_log.jsonl"
    cp "$WORK/run/run_meta.json" "$OUT/run_meta.json"
    [[ -d $MODEL_DIR ]] || { log "the runner saved no model at $MODEL_DIR"; exit 4; }
fi

# A graded reward (the share of answer digits in place) for the last-layer probe: a model trained for a
# few steps rarely answers exactly, and an all-zero reward gives an exactly zero RL gradient (reported,
# but then S1 has nothing to measure). The all-parameter probe keeps the verifier (--reward exact).
cat >"$WORK/device_check_reward.py" <<'EOF'
def digits_in_place(prompts, completions, *, answer, **_):
    return [sum(a == b for a, b in zip(c.strip(), t)) / len(t) for c, t in zip(completions, answer)]
EOF
export PYTHONPATH="$PYTHONPATH:$WORK"
PROBE=("$PYTHON" -m nondecoupling probe --model "$MODEL_DIR" --data "$WORK/expert.jsonl"
       --device "$DEVICE" --dtype "$DTYPE" --seed 0 --threads "$THREADS" --eigen-method lanczos --max-new-tokens 4 --batch-size 32)
timed probe "$OUT/probe.log" 240 "${PROBE[@]}" --out "$OUT/probe.json" --reward device_check_reward:digits_in_place --params "$LAST" --lam-min "${LAST_OPTS[@]}"
timed probe_all "$OUT/probe.log" 120 "${PROBE[@]}" --out "$OUT/probe_all.json" --reward exact --k 1 "${ALL_OPTS[@]}"
log "done: $(tr '\n' ';' <"$OUT/timings.txt")"
