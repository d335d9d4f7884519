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

"""Frames of changing sizes in OpenVINO: per-shape engines in a bounded cache, or one dynamic one.

Two ways to serve network inputs of several shapes:

* ``static``: one compiled model per input shape, kept in a least-recently-used cache of
  ``--cache-size`` (the node's ``engine_cache_size``); a shape past the bound is compiled again
  when it comes back;
* ``dynamic``: one model compiled once with dynamic height and width, serving every shape.

Each variant runs in its own process (so its resident memory is its own) on the same
dynamic-H/W ONNX export of the network, and reports: the compile time of a new shape, the
per-frame forward time on a steady shape, the per-frame time when the shapes cycle (more of them
than the cache holds: the worst case for ``static``), and the resident memory (RSS) before the
first frame, at its peak, and at the end. The machine is shared: compare the variants of one run
(ratios), not runs with each other.

    nice -n 10 python benchmarks/bench_engine_cache.py --input-size 266 --shapes 4 --cache-size 2
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

VARIANTS = ('static', 'dynamic')


def rss_mb() -> float:
    """Resident memory of this process in MB (VmRSS of /proc/self/status)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS in /proc/self/status (Linux only)')


def network_shapes(input_size: int, count: int) -> list[tuple[int, int]]:
    """``count`` distinct network inputs at short side ``input_size``: wider and wider frames."""
    from depth_anything_ros.model.transforms import target_size
    shapes: list[tuple[int, int]] = []
    width = 4 * input_size // 3
    while len(shapes) < count:
        hw = target_size(3 * input_size, 3 * width, input_size)   # frame 3x the network input
        if hw not in shapes:
            shapes.append(hw)
        width += 14
    return shapes


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one variant in this process; returns a JSON-able row."""
    import torch

    from depth_anything_ros.backends import make_runner
    from depth_anything_ros.backends.onnx_export import probe_input
    torch.set_num_threads(args.threads)
    shapes = network_shapes(args.input_size, args.shapes)
    options: dict[str, Any] = ({'engine_cache_size': args.cache_size} if args.variant == 'static'
                               else {'static_shapes': False})
    start_rss = rss_mb()
    t0 = time.perf_counter()
    runner = make_runner('openvino', Path(args.onnx), precision=args.precision,
                         num_threads=args.threads, cache_dir=Path(args.cache_dir), **options)
    load_s = time.perf_counter() - t0
    inputs = {hw: probe_input(*hw) for hw in shapes}
    first_calls, peak = [], start_rss
    for hw in shapes:                                   # each shape once: the compile stalls
        t0 = time.perf_counter()
        runner(inputs[hw])
        first_calls.append(time.perf_counter() - t0)
        peak = max(peak, rss_mb())
    steady = []                                         # one shape, again and again
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        runner(inputs[shapes[-1]])
        steady.append(1e3 * (time.perf_counter() - t0))
    cycling = []                                        # every shape in turn
    for i in range(args.repeats):
        t0 = time.perf_counter()
        runner(inputs[shapes[i % len(shapes)]])
        cycling.append(1e3 * (time.perf_counter() - t0))
        peak = max(peak, rss_mb())
    return {'variant': args.variant, 'precision': args.precision,
            'cache_size': args.cache_size if args.variant == 'static' else None,
            'shapes': [list(s) for s in shapes], 'load_s': load_s,
            'first_call_s': first_calls, 'first_call_median_s': statistics.median(first_calls),
            'steady_median_ms': statistics.median(steady),
            'cycling_median_ms': statistics.median(cycling),
            'cycling_mean_ms': statistics.fmean(cycling),
            'rss_start_mb': start_rss, 'rss_peak_mb': peak, 'rss_end_mb': rss_mb()}


def export(args: argparse.Namespace, folder: Path) -> Path:
    """Export the network once with dynamic height and width; returns the .onnx path."""
    from depth_anything_ros.backends.onnx_export import export_onnx
    from depth_anything_ros.offline.bench import load_network
    model = load_network(args.checkpoint, args.encoder)
    return export_onnx(model, folder / f'{args.encoder}.onnx', dynamic=True)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the rows, with each variant's per-frame times relative to ``dynamic``."""
    base = next((r for r in rows if r['variant'] == 'dynamic'), rows[0])
    lines = ['| variant | cache | new shape s | steady ms | vs dynamic | cycling ms (mean) | '
             'vs dynamic | RSS start / peak / end MB |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['cache_size'] or '-'} | {r['first_call_median_s']:.2f} | "
            f"{r['steady_median_ms']:.1f} | "
            f"{r['steady_median_ms'] / base['steady_median_ms']:.2f}x | "
            f"{r['cycling_mean_ms']:.1f} | {r['cycling_mean_ms'] / base['cycling_mean_ms']:.2f}x"
            f" | {r['rss_start_mb']:.0f} / {r['rss_peak_mb']:.0f} / {r['rss_end_mb']:.0f} |")
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--encoder', default='vits')
    parser.add_argument('--checkpoint', default='untrained',
                        help='weights (default: deterministic untrained weights)')
    parser.add_argument('--precision', default='bf16', choices=('fp32', 'bf16'))
    parser.add_argument('--input-size', type=int, default=266)
    parser.add_argument('--shapes', type=int, default=4, help='distinct network input shapes')
    parser.add_argument('--cache-size', type=int, default=2,
                        help='engine_cache_size of the static variant')
    parser.add_argument('--repeats', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--variants', default=','.join(VARIANTS))
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: input 70, 3 shapes, 3 repeats')
    parser.add_argument('--out', type=Path, default=None, help='JSON results')
    parser.add_argument('--variant', default=None, help=argparse.SUPPRESS)   # child process
    parser.add_argument('--onnx', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--cache-dir', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.input_size, args.shapes, args.repeats = 70, 3, 3
    if args.variant:
        print(json.dumps(run_variant(args)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        onnx = export(args, Path(tmp))
        rows = []
        for variant in args.variants.split(','):
            # a fresh process and compile cache each: its memory and compiles are its own
            cmd = [sys.executable, __file__, '--variant', variant, '--onnx', str(onnx),
                   '--cache-dir', str(Path(tmp) / variant)] + sys.argv[1:]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()
    print(f'OpenVINO {args.precision}, {args.encoder}, {args.shapes} network shapes at input '
          f'{args.input_size}, {args.threads} threads, load average {load[0]:.1f}')
    print(format_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({'load_average': load, 'rows': rows}, indent=1) + '\n')
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
