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

"""Measure whether int8 post-training quantisation (AMX / VNNI) beats OpenVINO bf16.

Exports the network statically for each input size, quantises it with NNCF on rendered
calibration frames, and times the OpenVINO network forward (f32, bf16, int8 variants; the
rounds interleave the variants so a shared host's drift hits all of them alike). Accuracy is
against OpenVINO f32 on other rendered frames (median and p99 of |d| / |ref|).

Variants (everything not quantised runs in bf16):

* ``int8-transformer``: NNCF's transformer preset (weight matmuls, attention, convolutions);
* ``int8-linear``: the 48 weight matmuls (qkv, proj, fc1, fc2) only;
* ``int8-linear-no-fc2``: qkv, proj and fc1 (fc2 reads the GELU output, whose outliers are
  the usual int8 casualty);
* ``int8-mlp``: fc1 and fc2 only (the MLP is ~2/3 of the linear FLOPs);
* ``int8-fc1``: fc1 only (its input is a LayerNorm output: well-behaved);
* ``int8-mlp-sq05``: ``int8-mlp`` with SmoothQuant at alpha 0.5 (NNCF's default for
  transformers is 0.95), moving more of the activation range into the weights;
* ``int8-linear-mixed``: ``int8-linear`` with the first and last two blocks kept in bf16
  (mixed precision: the blocks whose errors the depth head sees least attenuated).

    pip install nncf          # not a dependency of the package
    python benchmarks/bench_quantization.py --input-sizes 518,266 --threads 2
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

from bench_backends import cpu_mhz, host_probe, write_report
import numpy as np
import torch
from tqdm import tqdm

from depth_anything_ros.backends.onnx_export import export_onnx
from depth_anything_ros.backends.select import cpu_name
from depth_anything_ros.model import load_model
from depth_anything_ros.models.transforms import preprocess_fast_cpu, target_size
from depth_anything_ros.training.synth import render_sample

log = logging.getLogger('bench_quantization')
# variant -> (weight matmuls to quantise: name -> bool, or None for NNCF's whole preset;
# SmoothQuant alpha for matmuls, or None for NNCF's default)
INT8_VARIANTS: dict[str, tuple[Any, float | None]] = {
    'int8-transformer': (None, None),
    'int8-linear': (lambda name: True, None),
    'int8-linear-no-fc2': (lambda name: '/fc2/' not in name, None),
    'int8-mlp': (lambda name: '/mlp/' in name, None),
    'int8-fc1': (lambda name: '/fc1/' in name, None),
    'int8-mlp-sq05': (lambda name: '/mlp/' in name, 0.5),
    'int8-linear-mixed': (lambda name: not any(f'/blocks.{i}/' in name
                                               for i in (0, 1, 10, 11)), None),
}
VARIANTS = ('f32', 'bf16', *INT8_VARIANTS)


def rendered_inputs(count: int, seed: int, frame: tuple[int, int],
                    input_size: int) -> list[np.ndarray]:
    """Network inputs [1,3,h,w] from rendered indoor/outdoor frames (alternating)."""
    out = []
    for i in range(count):
        rgb = render_sample('indoor' if i % 2 == 0 else 'outdoor', i, seed, size=frame)[0]
        out.append(preprocess_fast_cpu(rgb, 'rgb8', input_size).numpy())
    return out


def quantize(ov_model: Any, variant: str, calibration: list[np.ndarray]) -> Any:
    """Return the NNCF-quantised copy of ``ov_model`` for ``variant`` (see the module doc)."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )
    include, alpha = INT8_VARIANTS[variant]
    ignored: list[str] = []
    if include is not None:
        for op in ov_model.get_ops():
            kind, name = op.get_type_name(), op.get_friendly_name()
            weighted = kind == 'MatMul' and any(
                op.input_value(i).get_node().get_type_name() in ('Constant', 'Convert')
                for i in range(2))
            if (kind == 'MatMul' and not (weighted and include(name))) or kind in (
                    'Convolution', 'ConvolutionBackpropData'):
                ignored.append(name)
    advanced = None
    if alpha is not None:
        advanced = AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=alpha))
    return nncf.quantize(ov_model, nncf.Dataset(calibration), subset_size=len(calibration),
                         model_type=nncf.ModelType.TRANSFORMER,
                         ignored_scope=nncf.IgnoredScope(names=ignored, validate=False),
                         advanced_parameters=advanced)


def relative_error(out: list[np.ndarray], ref: list[np.ndarray]) -> dict[str, float]:
    """Median and p99 of |out - ref| / |ref| over all pixels of all frames."""
    rel = np.concatenate([(np.abs(o - r) / np.maximum(np.abs(r), 1e-6)).ravel()
                          for o, r in zip(out, ref)])
    return {'median_rel': float(np.median(rel)), 'p99_rel': float(np.quantile(rel, 0.99))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Quantise, time and check every variant at every input size; return the JSON document."""
    import openvino as ov
    torch.set_num_threads(args.threads)
    model = load_model(f'untrained:{args.encoder}', allow_untrained=True)
    core = ov.Core()
    doc: dict[str, Any] = {
        'machine': {'cpu': cpu_name(), 'cpu_mhz': cpu_mhz(), 'threads': args.threads,
                    'openvino': ov.__version__, 'nncf': __import__('nncf').__version__},
        'encoder': args.encoder, 'frame': list(args.frame), 'calibration': args.calibration,
        'rounds': args.rounds, 'repeats': args.repeats, 'host_probe_before': host_probe(),
        'results': []}
    tmp = Path(tempfile.mkdtemp(prefix='bench-quant-'))
    for size in args.input_sizes:
        h, w = target_size(*args.frame, size)
        path = export_onnx(model, tmp / f'{h}x{w}.onnx', height=h, width=w)
        ov_model = core.read_model(str(path))
        calibration = rendered_inputs(args.calibration, 1, args.frame, size)
        tests = rendered_inputs(4, 7, args.frame, size)
        models, quantize_s = {'f32': ov_model, 'bf16': ov_model}, {}
        for variant in args.variants:
            start = time.perf_counter()
            models[variant] = quantize(ov_model, variant, calibration)
            quantize_s[variant] = time.perf_counter() - start
        requests = {}
        for variant, m in models.items():
            hint = 'f32' if variant == 'f32' else 'bf16'  # int8 variants: the rest in bf16
            config = {'INFERENCE_PRECISION_HINT': hint, 'INFERENCE_NUM_THREADS': args.threads,
                      'PERFORMANCE_HINT': 'LATENCY'}
            requests[variant] = core.compile_model(m, 'CPU', config).create_infer_request()
        outputs = {v: [np.array(r.infer({0: x})[0]) for x in tests] for v, r in requests.items()}
        times: dict[str, list[float]] = {v: [] for v in requests}
        for _ in tqdm(range(args.rounds), desc=f'{h}x{w}', unit='round'):
            for variant, request in requests.items():
                for _ in range(args.warmup):
                    request.infer({0: tests[0]})
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    request.infer({0: tests[0]})
                    times[variant].append(1e3 * (time.perf_counter() - start))
        for variant in requests:
            t = sorted(times[variant])
            doc['results'].append({
                'variant': variant, 'input_size': size, 'network_hw': [h, w],
                'median_ms': statistics.median(t), 'p90_ms': t[int(round(0.9 * (len(t) - 1)))],
                'min_ms': t[0], 'quantize_s': quantize_s.get(variant),
                **relative_error(outputs[variant], outputs['f32'])})
    doc['host_probe_after'] = host_probe()
    return doc


def markdown(doc: dict[str, Any]) -> str:
    """Return the results as a Markdown table."""
    m = doc['machine']
    lines = [f'{doc["encoder"]} network forward, {m["cpu"]} ({m["cpu_mhz"]} MHz), '
             f'{m["threads"]} threads, OpenVINO {m["openvino"]}, NNCF {m["nncf"]}; '
             f'{doc["rounds"]} rounds x {doc["repeats"]} frames per variant, interleaved', '',
             '| input | network | variant | median ms | p90 ms | min ms | vs bf16 | '
             'median rel | p99 rel | quantise s |', '|---|---|---|---|---|---|---|---|---|---|']
    bf16 = {r['input_size']: r['median_ms'] for r in doc['results'] if r['variant'] == 'bf16'}
    for r in doc['results']:
        q = f'{r["quantize_s"]:.0f}' if r['quantize_s'] else ''
        lines.append(f'| {r["input_size"]} | {r["network_hw"][0]}x{r["network_hw"][1]} | '
                     f'{r["variant"]} | {r["median_ms"]:.1f} | {r["p90_ms"]:.1f} | '
                     f'{r["min_ms"]:.1f} | {bf16[r["input_size"]] / r["median_ms"]:.2f}x | '
                     f'{r["median_rel"]:.1e} | {r["p99_rel"]:.1e} | {q} |')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON and Markdown."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--encoder', default='vits', help='vits | vitb | vitl | tiny')
    p.add_argument('--input-sizes', default='518,266',
                   type=lambda s: [int(v) for v in s.split(',') if v])
    p.add_argument('--frame', default=(480, 640),
                   type=lambda s: tuple(int(v) for v in s.lower().split('x')))
    p.add_argument('--calibration', type=int, default=16, help='calibration frames')
    p.add_argument('--variants', default=','.join(INT8_VARIANTS),
                   type=lambda s: [v for v in s.split(',') if v],
                   help='int8 variants to try (f32 and bf16 always run)')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--out', type=Path, default=Path('out/bench/quantization.json'))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError as exc:
        print(f'this benchmark needs {exc.name}: pip install nncf openvino', file=sys.stderr)
        return 2
    write_report(run(args), markdown, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
