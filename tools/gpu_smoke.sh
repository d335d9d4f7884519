#!/usr/bin/env bash
# Copyright 2026 depth_anything_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# GPU smoke test: every CUDA / TensorRT / onnxruntime-GPU path once, in at most ten minutes.
#
#   tools/gpu_smoke.sh [OUT_DIR]        (default out/gpu_smoke; run from the repository root)
#
# Steps (each with its own time limit), then one table on stdout and OUT_DIR/gpu_smoke.json:
#   versions    GPU, compute capability, driver, torch/CUDA, TensorRT, onnxruntime + providers
#   pytest      pytest -m gpu (the gpu-marked tests)
#   bench       depth-anything-ros bench --device cuda: torch, tensorrt, onnxruntime x fp32,
#               fp16, bf16 x batch 1, 2 (ms and accuracy against fp32; what cannot run here is
#               listed as skipped, an error fails the step)
#   wide        a 1242x375 frame (network input 518x1722) through TensorRT fp16
#   restart     a second start on the same engine cache: cache hit, time to first depth
#   distill     distill --stop-at on cuda, then --resume
#   lifecycle   depth_lifecycle_node configure -> cleanup: GPU memory before, loaded, after
# Exit status: 0 all passed (or no GPU present: says so and writes nothing else), 1 a step
# failed. Environment: SMOKE_ENCODER (default vits), SMOKE_STEP_TIMEOUT (s, default 240).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-out/gpu_smoke}
ENCODER=${SMOKE_ENCODER:-vits}
STEP_TIMEOUT=${SMOKE_STEP_TIMEOUT:-240}
# One TensorRT profile for every step, so the engines are built once: batch 2, input 266 for
# the benchmark, up to the wide camera's 518x1722.
PROFILE=(--trt-max-batch 2 --trt-opt-shape 266x350 --trt-max-shape 518x1722)
[ -f .venv/ros_env.sh ] && . .venv/ros_env.sh
PY=${PYTHON:-python}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
then
    echo "gpu_smoke: no GPU present (torch.cuda.is_available() is False$(command -v nvidia-smi \
        >/dev/null || echo '; no nvidia-smi')): nothing to test here"
    exit 0
fi

rm -rf "$OUT" && mkdir -p "$OUT/steps"
CACHE="$OUT/cache"
START=$(date +%s)

# step NAME COMMAND...: run with a time limit, keep its output, record status and seconds.
step() {
    local name=$1; shift
    local t0; t0=$(date +%s%N)
    timeout "$STEP_TIMEOUT" "$@" >"$OUT/steps/$name.log" 2>&1
    local rc=$?
    local ms=$((($(date +%s%N) - t0) / 1000000))
    printf '{"step": "%s", "rc": %d, "seconds": %d.%03d}\n' "$name" "$rc" $((ms / 1000)) \
        $((ms % 1000)) >"$OUT/steps/$name.status.json"
    echo "gpu_smoke: $name rc=$rc ($(($(date +%s) - START)) s so far)" >&2
}

step versions "$PY" - "$OUT/steps/versions.json" <<'EOF'
import json, subprocess, sys
import torch
info = {'torch': torch.__version__, 'cuda': torch.version.cuda,
        'cudnn': torch.backends.cudnn.version(), 'gpu': torch.cuda.get_device_name(0),
        'capability': '.'.join(map(str, torch.cuda.get_device_capability(0))),
        'gpus': torch.cuda.device_count()}
try:
    info['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version',
                                     '--format=csv,noheader'], capture_output=True,
                                    text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError):
    info['driver'] = None
try:
    import tensorrt
    info['tensorrt'] = tensorrt.__version__
    info['tensorrt_strongly_typed_only'] = not hasattr(tensorrt.BuilderFlag, 'FP16')
except ImportError as exc:
    info['tensorrt'] = f'not importable: {exc}'
try:
    import onnxruntime
    info['onnxruntime'] = onnxruntime.__version__
    info['ort_providers'] = onnxruntime.get_available_providers()
except ImportError as exc:
    info['onnxruntime'] = f'not importable: {exc}'
json.dump(info, open(sys.argv[1], 'w'), indent=1)
print(json.dumps(info, indent=1))
EOF

step pytest "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs \
    --junitxml="$OUT/steps/pytest.xml" test

step bench depth-anything-ros bench --device cuda --encoder "$ENCODER" --input-size 266 \
    --preprocess fast --backend torch,tensorrt,onnxruntime --precision fp32,fp16,bf16 \
    --batch 1,2 --runs 5 --warmup 2 "${PROFILE[@]}" --out "$OUT/steps/bench.json"

# A fresh process each: the first builds the engine (cold), the second must find it (warm).
start_script=$(cat <<'EOF'
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.vocabulary import trt_profile
out, cache, encoder, height, width = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:6])
est = DepthEstimator.from_config(f'untrained:{encoder}', allow_untrained=True, device='cuda',
                                 backend='tensorrt', precision='fp16', input_size=518,
                                 cache_dir=cache,
                                 trt_profile=trt_profile(2, '266x350', '518x1722'))
depth = est.infer(np.full((height, width, 3), 128, np.uint8))
first_ms = 1e3 * (time.perf_counter() - t0)
ok = depth.shape == (height, width) and bool(np.isfinite(depth).all())
result = {'ok': ok, 'network_input': list(est.network_size(height, width)),
          'cache_hit': est.backend_report.get('engine_cache') == 'hit',
          'first_depth_ms': round(first_ms),
          'precision': est.precision, 'runtime': est.backend_report}
json.dump(result, open(out, 'w'), indent=1)
print(json.dumps(result, indent=1))
sys.exit(0 if ok else 1)
EOF
)
step wide "$PY" -c "$start_script" "$OUT/steps/wide.json" "$CACHE" "$ENCODER" 375 1242
step restart "$PY" -c "$start_script" "$OUT/steps/restart.json" "$CACHE" "$ENCODER" 375 1242

distill() {
    local run="$OUT/distill"
    depth-anything-ros pseudo-label --teacher untrained:tiny --allow-untrained --device cuda \
        --inputs depth_anything_ros/data/demo_stream/demo_stream.mcap \
        --out "$OUT/labels" --no-progress || return 1
    depth-anything-ros distill --config distill_debug --labels "$OUT/labels" --out "$run" \
        --no-progress --stop-at 2 max_steps=4 save_every=2 device=cuda export=false || return 1
    depth-anything-ros distill --out "$run" --resume --no-progress || return 1
    "$PY" -c "import sys, torch; sys.exit(0 if torch.load(sys.argv[1], weights_only=True)['step'] == 4 else 1)" "$run/last.pt"
}
step distill distill

step lifecycle "$PY" - "$OUT/steps/lifecycle.json" "$CACHE" "$ENCODER" <<'EOF'
import gc, json, sys
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
import torch
from depth_anything_ros.ros.lifecycle_node import DepthLifecycleNode
out, cache, encoder = sys.argv[1:4]

def used_mib() -> float:
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20

torch.cuda.init()
rclpy.init()
params = {'checkpoint': f'untrained:{encoder}', 'encoder': encoder,
          'allow_untrained_weights': True, 'mode': 'relative', 'device': 'cuda',
          'backend': 'tensorrt', 'precision': 'fp16', 'cache_dir': cache,
          'trt_max_batch': 2, 'trt_opt_shape': '266x350', 'trt_max_shape': '518x1722'}
node = DepthLifecycleNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
before = used_mib()
configured = node.trigger_configure() == TransitionCallbackReturn.SUCCESS
loaded = used_mib()
cleaned = node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
gc.collect()
after = used_mib()
node.destroy_node()
rclpy.try_shutdown()
# Freed: at most a tenth of what loading took (plus 64 MiB of allocator slack) stays used.
freed = after - before <= 0.1 * max(loaded - before, 0) + 64
result = {'ok': configured and cleaned and freed, 'configured': configured,
          'cleaned_up': cleaned, 'gpu_used_mib_before': round(before),
          'gpu_used_mib_loaded': round(loaded), 'gpu_used_mib_after_cleanup': round(after)}
json.dump(result, open(out, 'w'), indent=1)
print(json.dumps(result, indent=1))
sys.exit(0 if result['ok'] else 1)
EOF

"$PY" - "$OUT" "$(($(date +%s) - START))" <<'EOF'
import json, pathlib, sys
out, total = pathlib.Path(sys.argv[1]), int(sys.argv[2])
steps = out / 'steps'

def load(name):
    path = steps / name
    return json.loads(path.read_text()) if path.is_file() else {}

rows, failed = [], False
for name in ('versions', 'pytest', 'bench', 'wide', 'restart', 'distill', 'lifecycle'):
    status = load(f'{name}.status.json')
    ok = status.get('rc') == 0
    failed |= not ok
    detail = ''
    if name == 'versions':
        v = load('versions.json')
        detail = (f"{v.get('gpu')} sm_{v.get('capability', '').replace('.', '')}, driver "
                  f"{v.get('driver')}, torch {v.get('torch')} CUDA {v.get('cuda')}, TensorRT "
                  f"{v.get('tensorrt')}, onnxruntime {v.get('onnxruntime')} "
                  f"{v.get('ort_providers')}")
    elif name == 'pytest':
        tail = (steps / 'pytest.log').read_text().strip().splitlines()
        detail = tail[-1] if tail else ''
    elif name in ('wide', 'restart'):
        r = load(f'{name}.json')
        detail = (f"input {r.get('network_input')}, cache hit {r.get('cache_hit')}, first depth "
                  f"{r.get('first_depth_ms')} ms, {r.get('runtime', {}).get('activation_memory_mb')}"
                  ' MiB activations')
        if name == 'restart' and not r.get('cache_hit'):
            ok, failed = False, True
            detail += ' (expected a cache hit)'
    elif name == 'lifecycle':
        r = load('lifecycle.json')
        detail = (f"GPU used {r.get('gpu_used_mib_before')} -> {r.get('gpu_used_mib_loaded')} -> "
                  f"{r.get('gpu_used_mib_after_cleanup')} MiB (before, loaded, after cleanup)")
    rows.append((name, 'ok' if ok else 'FAIL', f"{status.get('seconds', 0):.0f}", detail))
bench = load('bench.json').get('results', [])
for r in bench:
    label = f"bench {r['backend']} {r['precision']} b{r['batch']}"
    if 'skipped' in r:
        rows.append((label, 'skip', '', r['skipped'][:90]))
    elif 'error' in r:
        rows.append((label, 'FAIL', '', r['error'][:90]))
    else:
        acc = r.get('accuracy', {})
        rows.append((label, 'ok', '', f"infer {r['infer']['median_ms']:.1f} ms, forward "
                     f"{r['forward']['median_ms']:.1f} ms, p99 rel {acc.get('p99_rel', float('nan')):.1e}"
                     f" vs fp32"))
width = max(len(r[0]) for r in rows)
print(f"\n{'step':<{width}}  result  s     detail")
for name, result, seconds, detail in rows:
    print(f'{name:<{width}}  {result:<6}  {seconds:>4}  {detail}')
print(f'total {total} s')
summary = {'total_seconds': total, 'passed': not failed,
           'steps': [dict(zip(('step', 'result', 'seconds', 'detail'), r)) for r in rows],
           'versions': load('versions.json'), 'bench': bench, 'wide': load('wide.json'),
           'restart': load('restart.json'), 'lifecycle': load('lifecycle.json')}
(out / 'gpu_smoke.json').write_text(json.dumps(summary, indent=1) + '\n')
print(f'wrote {out / "gpu_smoke.json"}')
sys.exit(1 if failed else 0)
EOF
