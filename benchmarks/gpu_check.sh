#!/usr/bin/env bash
# GPU throughput check of `audiotok npq encode` (issue 10), for a fresh H100/H200 machine
# without internet where python3 has torch (and torchaudio) but not audiotok's other
# dependencies. Prints x real time of DAC 44.1 kHz on 200 x 10 s mono clips per precision
# and on one 10-minute stereo file, token agreement with CPU eager fp32, and peak GPU memory
# (see benchmarks/gpu_check.py). Whole check: under 8 minutes (`timeout`, below).
#
#   1. Here, with PyPI:     bash benchmarks/gpu_check.sh --build-wheels   # -> .whl/ (~10 MB, git-ignored)
#   2. There, offline:      bash benchmarks/gpu_check.sh [gpu_check.py options]
#      (the device tool: carry [".whl"]; $OUT/gpu_check.json comes back)
#   CPU test of the script: bash benchmarks/gpu_check.sh --quick
#   Every codec of issue 22 (Mimi, SNAC, XCodec2, NeuCodec, X-Codec, Higgs): batched x real time and
#   codes GPU vs CPU: bash benchmarks/gpu_check.sh --codecs [gpu_codecs.py options]
#   (benchmarks/gpu_codecs.py; `--codecs --quick` tests it on the CPU in a few minutes)
#
# Measured on the 2-core development box (no GPU), `--quick` end to end: 37 s when the box was
# quiet, 63-72 s while other jobs ran (tiny model, 4 x 1 s clips, 6 s stereo, 6 encode processes;
# most of it interpreter start-up). SIGTERM at the limit was tried too: partial report, exit 124.
# Not yet run on a GPU: no device machine was lent to the task that wrote it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=${AUDIOTOK_WHEELS:-$REPO/.whl}
PY=${PYTHON:-python3}
SITE=${AUDIOTOK_SITE:-/tmp/audiotok-site}
LIMIT_S=${GPU_CHECK_TIMEOUT_S:-470}

# What `npq encode` imports that the GPU image lacks (its list: /work/.library/device/KINDS.md),
# at the versions audiotok is tested with. torch, torchaudio, numpy, scipy, rich, PyYAML,
# tensorboard, einops, tqdm, protobuf come with the image. Pure-Python unless marked.
PURE=(
  "typer==0.29.2" "pydantic==2.14.4" "annotated-types==0.8.0" "typing-inspection==0.4.5"
  "soundfile==0.14.0" "pycparser==3.12"
  "descript-audio-codec==1.0.0" "descript-audiotools==0.7.2" "argbind==0.3.9"
  "docstring-parser==0.18.0" "ffmpy==1.0.0" "flatten-dict==0.5.0" "importlib-resources==7.1.0"
  "julius==0.2.8" "randomname==0.2.1" "encodec==0.1.1"
  # --codecs: the image's transformers (5.17) predates Xcodec2Model and NeuCodecModel; not yet tried there
  "transformers==5.25.0" "huggingface-hub==2.5.0" "snac==1.2.1" "httpx2==2.17.0"
)
BINARY=("pydantic-core==2.50.5" "cffi==2.1.1")  # CPython 3.12, x86-64 manylinux

if [[ ${1:-} == --build-wheels ]]; then
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  # sdists (encodec, randomname, ...) are built to py3-none-any wheels here
  "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "${PURE[@]}"
  plat=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    plat+=(--platform "$p")
  done
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d "$WHEELS" "${BINARY[@]}"
  ls "$WHEELS" && du -sh "$WHEELS"
  exit 0
fi

has_wheels=0
if [[ -d $WHEELS ]] && compgen -G "$WHEELS/*.whl" >/dev/null; then
  if "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    has_wheels=1
  else
    echo "gpu_check: $PY is not CPython 3.12, which $WHEELS is for: not installing it" >&2
  fi
fi
if ((has_wheels)); then
  # offline: only what is in the wheelhouse, into a folder of its own placed first on the path
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
elif ! "$PY" -c "import audiotok.cli.app, dac, soundfile" 2>/dev/null; then
  echo "gpu_check: audiotok's dependencies are missing and there is no wheelhouse at $WHEELS" >&2
  echo "           (build one where PyPI is reachable: bash benchmarks/gpu_check.sh --build-wheels)" >&2
  exit 1
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# SIGTERM at the limit: the driver prints (and writes) what it measured so far, then stops
if [[ ${1:-} == --codecs ]]; then
  shift
  exec timeout -k 15 "$LIMIT_S" "$PY" "$REPO/benchmarks/gpu_codecs.py" "$@"
fi
exec timeout -k 15 "$LIMIT_S" "$PY" "$REPO/benchmarks/gpu_check.py" "$@"
