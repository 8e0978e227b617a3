#!/usr/bin/env bash
# One prepared GPU check, under 8 minutes on one H100/H200; the last line printed is one JSON object.
#   1. end to end: `train.py trainer=gpu` for 50 steps (train, validate, export), MiniLM-shaped random-init encoder;
#   2. training samples/s and peak GPU memory, pairlab vs sentence-transformers' trainer (bf16, MNRL, batch 128,
#      max length 128), random-init encoders of MiniLM-L6 and BERT-base shape (bench/throughput.py), and
#      pairlab with model.unpad=false on the first (whether the unpadded path pays on this GPU);
#   3. GradCache batch 4096 vs plain batch 128, peak GPU memory (bench/grad_cache_memory.py);
#   4. a decoder embedder: a Qwen3-0.6B-shaped random-init bi-encoder, bf16, full fine-tuning with gradient
#      checkpointing, pairlab vs sentence-transformers (samples/s, peak GPU memory), and pairlab with LoRA r=16;
#   5. trainer=fsdp on every GPU of the machine, when it has two or more: steps, a sharded checkpoint, the export.
# No weights travel: encoders are built from a config; the tokenizer files and the Python packages the GPU
# machine lacks (hydra-core, omegaconf, antlr4 runtime, datasets and its dill/multiprocess) come from
# .whl/gpu, which `make gpu-wheels` fills here (about 2 MB). Then, on the GPU machine: bash bench/gpu_check.sh
# A dry run on a CPU machine:
#   DEVICE=cpu MODELS=tiny BATCH=8 LENGTH=32 STEPS=4 BIG=32 DECODER=qwen3-tiny DECODER_BATCH=8 bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=$(realpath -m "${WHEELS:-.whl/gpu}")
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
MODELS=${MODELS:-minilm-random,bert-base-random}
BATCH=${BATCH:-128}
LENGTH=${LENGTH:-128}
STEPS=${STEPS:-50}
BIG=${BIG:-4096}
DECODER=${DECODER:-qwen3-0.6b}
DECODER_BATCH=${DECODER_BATCH:-64}
OUT=$(realpath -m "${OUT:-$(mktemp -d)}") && mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD/src:$PWD/bench:${PYTHONPATH:-}"
TOKENIZER="$WHEELS/tokenizer"

need=()
for pair in hydra:hydra-core omegaconf:omegaconf antlr4:antlr4-python3-runtime datasets:datasets dill:dill \
            multiprocess:multiprocess; do
  $PY -c "import ${pair%%:*}" 2>/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "installing from $WHEELS: ${need[*]}" >&2
  $PY -m pip install -q --no-index --no-deps --no-build-isolation --find-links "$WHEELS" "${need[@]}" >&2
fi

first_model=${MODELS%%,*}
shape=$($PY -c "import throughput; print('{' + ','.join(f'{k}:{v}' for k, v in throughput.RANDOM_INIT['$first_model'].items()) + '}')")
accelerator=$([ "$DEVICE" = cuda ] && echo gpu || echo cpu)
start=$(date +%s.%N)
$PY train.py trainer=gpu trainer.accelerator="$accelerator" model=tiny "model.size=$shape" "model.tokenizer=$TOKENIZER" \
  model.max_length="$LENGTH" model.lr=1e-4 data.batch_size="$BATCH" trainer.max_steps="$STEPS" trainer.max_epochs=1000 \
  trainer.enable_progress_bar=false logger=csv hydra.run.dir="$OUT/e2e" > "$OUT/e2e.log" 2>&1 \
  || { tail -40 "$OUT/e2e.log" >&2; exit 1; }
e2e_s=$(echo "$(date +%s.%N) - $start" | bc)

for model in ${MODELS//,/ }; do
  variant=()  # does the unpadded path pay on this GPU? the first model also runs padded
  [ "$model" = "$first_model" ] && variant=(--variant padded=model.unpad=false)
  $PY bench/throughput.py --device "$DEVICE" --model "$model" --tokenizer "$TOKENIZER" --batch-size "$BATCH" \
    --max-length "$LENGTH" --steps "$STEPS" --warmup 5 --repeats 1 --contenders pairlab,sentence_transformers \
    "${variant[@]}" --max-load 1000 > "$OUT/throughput_$model.log" 2>&1 \
    || { tail -40 "$OUT/throughput_$model.log" >&2; exit 1; }
done
$PY bench/grad_cache_memory.py --device "$DEVICE" --model "$first_model" --tokenizer "$TOKENIZER" \
  --batches "$BATCH,$BIG" --plain-batches "$BATCH" --mini-batch "$BATCH" --max-length "$LENGTH" --steps 2 --warmup 1 \
  --max-load 1000 > "$OUT/grad_cache.log" 2>&1 || { tail -40 "$OUT/grad_cache.log" >&2; exit 1; }

$PY bench/throughput.py --device "$DEVICE" --model "$DECODER" --batch-size "$DECODER_BATCH" --max-length "$LENGTH" \
  --steps "$STEPS" --warmup 3 --repeats 1 --contenders pairlab,sentence_transformers --gradient-checkpointing \
  --variant lora=model.lora.r=16,model.lr=1e-4 --max-load 1000 > "$OUT/decoder.log" 2>&1 \
  || { tail -40 "$OUT/decoder.log" >&2; exit 1; }

gpus=$($PY -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$gpus" -ge 2 ]; then
  $PY train.py trainer=fsdp model=qwen3_tiny loss=mnrl data=quora_sample trainer.max_steps=6 \
    trainer.val_check_interval=3 trainer.enable_progress_bar=false logger=csv hydra.run.dir="$OUT/fsdp" \
    > "$OUT/fsdp.log" 2>&1 || { tail -40 "$OUT/fsdp.log" >&2; exit 1; }
fi

cat "$OUT"/throughput_*.log "$OUT/grad_cache.log" "$OUT/decoder.log" >&2
OUT="$OUT" MODELS="$MODELS" E2E_S="$e2e_s" DEVICE="$DEVICE" $PY - <<'PYEOF'
import json, os
from pathlib import Path

import torch

out = Path(os.environ["OUT"])
last = lambda path: json.loads(path.read_text().strip().splitlines()[-1])
e2e = out / "e2e"
result = {
    "device": torch.cuda.get_device_name() if os.environ["DEVICE"] == "cuda" else "cpu",
    "torch": torch.__version__,
    "e2e": {"wall_s": round(float(os.environ["E2E_S"]), 1), "exported": (e2e / "model" / "modules.json").is_file(),
            "metrics": json.loads((e2e / "metrics.json").read_text())},
    "throughput": {m: last(out / f"throughput_{m}.log") for m in os.environ["MODELS"].split(",")},
    "grad_cache": last(out / "grad_cache.log").get("largest_grad_cache_vs_smallest_plain"),
    "decoder": last(out / "decoder.log"),
    "fsdp_exported": (out / "fsdp" / "model" / "modules.json").is_file() if (out / "fsdp").exists() else None,
}
print(json.dumps(result))
PYEOF
