#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go (a GPU is often lent for minutes, not hours): the gpu
# tests (tests/test_cuda.py), the CUDA benchmark at 1080p and 4K, the precision table, and whether
# starting pairs ahead (scripts/pipeline_ab.py, the CUDA default) pays on the GPU. Logs go
# to $OUT (default ./gpu-checks). PYTHON names the interpreter (default: .venv/bin/python, else python3).
set -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-checks}
mkdir -p "$out"
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/env.txt"
"$py" -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())" | tee -a "$out/env.txt"
timeout 300 "$py" -m pytest -p no:cacheprovider -o addopts="" -n 0 -m gpu tests/test_cuda.py -s -q -rA 2>&1 \
    | tee "$out/pytest.log"
timeout 240 "$py" scripts/bench.py --device cuda --size 1920x1080 --size 3840x2160 --runs 8 --vspipe-rounds 0 \
    --json "$out/bench.json" 2>&1 | grep -v -i warn | tee "$out/bench.log"
timeout 150 "$py" scripts/precision_eval.py --device cuda 2>&1 | grep -v -i warn | tee "$out/precision.log"
# starting each pair's work ahead (the CUDA default; measured slower on 2 CPU cores): off and on, taking turns
timeout 150 "$py" scripts/pipeline_ab.py --device cuda --size 1920x1080 --frames 48 --rounds 3 2>&1 \
    | grep -v -i warn | tee "$out/pipeline.log"
