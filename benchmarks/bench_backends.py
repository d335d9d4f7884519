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

"""Compare inference backends x precisions x input sizes on whole camera frames.

Each row runs ``DepthEstimator.infer`` on one 480x640 BGR frame (preprocessing + network +
upsampling back to the frame: what a node pays per frame) and reports the median / p90 / min
latency, the forward-only median, and the accuracy against torch fp32 at the same input size
(max |d|, median and p99 of |d| / |ref|). Results go to JSON and a Markdown table. The frame,
the timing, the statistics, the accuracy and the skip rule are those of
``depth-anything-ros bench`` (depth_anything_ros/offline/bench.py); this script adds interleaved
rounds, first-call times and the host probe.

    python benchmarks/bench_backends.py                       # vits, all installed backends
    python benchmarks/bench_backends.py --quick --input-sizes 266
    python benchmarks/bench_backends.py --backends openvino --precisions bf16 --threads 2

Without ``--checkpoint`` the network has deterministic untrained weights: latency is that of
the real model, accuracy figures are for those weights.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import logging
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from depth_anything_ros.backends import BackendUnavailableError
from depth_anything_ros.backends.select import cpuinfo
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.offline.bench import (
    accuracy,
    environment,
    latency_stats,
    load_network,
    skip_reason,
    synthetic_frame,
    timed_ms,
)

log = logging.getLogger('bench_backends')

# Targets on a 2-vCPU AMX machine, ViT-S, 480x640 frame, end to end, fastest CPU backend.
TARGETS = {'518_max_ms': 150.0, '266_min_fps': 30.0, 'p99_rel_max': 0.03}


def cpu_mhz() -> float | None:
    """Nominal clock from /proc/cpuinfo (in a VM: the host's TSC rate), else None."""
    value = cpuinfo('cpu MHz')
    try:
        return float(value) if value else None
    except ValueError:
        return None


def host_probe(seconds: float = 0.5) -> dict[str, float]:
    """GEMM throughput now (GFLOP/s, fp32 and bf16, 1536x1536): how fast the host runs today.

    Shared VMs swing by tens of percent; recording this before and after the rows lets two
    runs (or two machines) be compared by what the CPU delivered, not only by its name.
    """
    out = {}
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        a = torch.randn(1536, 1536).to(dtype)
        a @ a  # warm-up: thread pool, kernels
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            a @ a
            count += 1
        out[f'gemm_{name}_gflops'] = 2 * 1536 ** 3 * count / (time.perf_counter() - start) / 1e9
    return out


def machine_info(threads: int) -> dict[str, Any]:
    """Where the numbers come from: the bench engine's environment, clock, threads, runtimes."""
    info: dict[str, Any] = {**environment(), 'cpu_mhz': cpu_mhz(), 'cpu_count': os.cpu_count(),
                            'threads': threads}
    for module in ('openvino', 'onnxruntime', 'tensorrt'):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    return info


class Timing:
    """Latency samples of one row, gathered over one or more rounds."""

    def __init__(self) -> None:
        """Start empty."""
        self.total: list[float] = []
        self.forward: list[float] = []
        self.pre: list[float] = []
        self.first_s = float('nan')
        self.depth: np.ndarray | None = None

    def _infer(self, est: DepthEstimator, frame: np.ndarray) -> None:
        self.depth = est.infer(frame)
        self.forward.append(est.last_timings.get('forward_ms', float('nan')))
        self.pre.append(est.last_timings.get('preprocess_ms', float('nan')))

    def first_call(self, est: DepthEstimator, frame: np.ndarray) -> None:
        """Time the first frame of this row: export / compile for its input shape."""
        self.first_s = 1e-3 * timed_ms(lambda: self._infer(est, frame), 1, warmup=0)[0]
        del self.forward[-1:], self.pre[-1:]   # not a timed frame

    def measure(self, est: DepthEstimator, frame: np.ndarray, warmup: int, repeats: int) -> None:
        """Run ``warmup`` untimed then ``repeats`` timed frames; keep the last depth."""
        done = len(self.forward)
        self.total += timed_ms(lambda: self._infer(est, frame), repeats, warmup)
        del self.forward[done:done + warmup], self.pre[done:done + warmup]   # warm-up frames

    def stats(self) -> dict[str, float]:
        """Median / p90 / min of the whole frame, forward and preprocessing medians, fps."""
        frame = latency_stats(self.total)
        return {'first_call_s': self.first_s, 'frames': frame['n'],
                'median_ms': frame['median_ms'], 'p90_ms': frame['p90_ms'],
                'min_ms': frame['min_ms'],
                'forward_median_ms': statistics.median(self.forward),
                'preprocess_median_ms': statistics.median(self.pre), 'fps': frame['fps']}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Benchmark every requested combination; return the JSON document."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_network(args.checkpoint or 'untrained', args.encoder)
    weights = args.checkpoint or \
        f'untrained:{args.encoder} (deterministic; accuracy is for these weights)'
    frame_h, frame_w = args.frame
    frame = synthetic_frame(frame_h, frame_w)
    cache = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix='bench-'))
    # The estimator uses the default engine cache, $XDG_CACHE_HOME/depth_anything_ros/engines.
    os.environ['XDG_CACHE_HOME'] = str(cache)
    doc: dict[str, Any] = {'machine': machine_info(args.threads), 'weights': weights,
                           'encoder': model.config.encoder, 'frame': [frame_h, frame_w],
                           'exact_preprocessing': args.exact, 'warmup': args.warmup,
                           'repeats': args.repeats, 'rounds': args.rounds,
                           'targets': TARGETS, 'results': [],
                           'host_probe_before': host_probe()}
    combos = [(b, p) for b in args.backends for p in args.precisions]
    refs: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(combos) * len(args.input_sizes) + len(args.input_sizes),
               desc='bench', unit='run')
    # torch fp32 first: it is the accuracy reference for every other row.
    ref_est = DepthEstimator(model, device=device, precision='fp32', exact=args.exact)
    for size in args.input_sizes:
        ref_est.input_size = size
        timing = Timing()
        timing.first_call(ref_est, frame)
        timing.measure(ref_est, frame, 0, args.ref_repeats)
        refs[size] = timing.depth.astype(np.float64)
        if ('torch', 'fp32') in combos:
            doc['results'].append(_row('torch', 'fp32', size, ref_est, frame, timing.stats(),
                                       accuracy(timing.depth, refs[size])))
        bar.update(1)
    rows: list[tuple[str, str, int, DepthEstimator | None, str | None]] = []
    for backend, precision in combos:
        if (backend, precision) == ('torch', 'fp32'):
            continue
        reason = skip_reason(backend, precision, device)
        est = None
        if reason is None:
            try:
                est = DepthEstimator(model, device=device, precision=precision,
                                     exact=args.exact, backend=backend,
                                     input_size=args.input_sizes[0])
            except (BackendUnavailableError, ValueError) as exc:
                reason = str(exc)
        rows += [(backend, precision, size, est, reason) for size in args.input_sizes]
    timings = {row[:3]: Timing() for row in rows if row[3] is not None}
    for backend, precision, size, est, _ in rows:  # export / compile every shape first
        if est is not None:
            bar.set_postfix_str(f'{backend} {precision} {size}: first call')
            est.input_size = size
            timings[backend, precision, size].first_call(est, frame)
    # Interleaved rounds: a shared host's slow spells spread over every row alike.
    per_round = max(1, -(-args.repeats // args.rounds))
    for round_index in range(args.rounds):
        for backend, precision, size, est, _ in rows:
            if est is None:
                continue
            bar.set_postfix_str(f'{backend} {precision} {size} round {round_index + 1}')
            est.input_size = size
            warmup = max(0, args.warmup - 1) if round_index == 0 else min(1, args.warmup)
            timings[backend, precision, size].measure(est, frame, warmup, per_round)
    for backend, precision, size, est, reason in rows:
        if est is None:
            doc['results'].append({'backend': backend, 'precision': precision,
                                   'input_size': size, 'skipped': reason})
        else:
            timing = timings[backend, precision, size]
            est.input_size = size
            doc['results'].append(_row(backend, precision, size, est, frame, timing.stats(),
                                       accuracy(timing.depth, refs[size])))
        bar.update(1)
    bar.close()
    doc['host_probe_after'] = host_probe()
    doc['cache_dir'] = str(cache / 'depth_anything_ros' / 'engines')
    doc['targets_check'] = check_targets(doc)
    return doc


def _row(backend: str, precision: str, size: int, est: DepthEstimator, frame: np.ndarray,
         stats: dict[str, float], acc: dict[str, float]) -> dict[str, Any]:
    h, w = est.network_size(*frame.shape[:2])
    return {'backend': backend, 'precision': precision, 'input_size': size,
            'network_hw': [h, w], **stats, **acc}


def check_targets(doc: dict[str, Any]) -> list[str]:
    """Compare the fastest measured row per input size with :data:`TARGETS` (518 and 266)."""
    rows = [r for r in doc['results'] if 'skipped' not in r]
    lines = []
    for size, key in ((518, '518_max_ms'), (266, '266_min_fps')):
        at = [r for r in rows if r['input_size'] == size]
        if not at:
            continue
        best = min(at, key=lambda r: r['median_ms'])
        ok_time = (best['median_ms'] <= TARGETS[key] if size == 518
                   else best['fps'] >= TARGETS[key])
        ok_acc = best['p99_rel'] <= TARGETS['p99_rel_max']
        goal = f'<= {TARGETS[key]:g} ms' if size == 518 else f'>= {TARGETS[key]:g} fps'
        lines.append(f'input {size}: fastest {best["backend"]} {best["precision"]} '
                     f'{best["median_ms"]:.1f} ms ({best["fps"]:.1f} fps), p99 rel '
                     f'{best["p99_rel"]:.1e}; target {goal} and p99 <= '
                     f'{TARGETS["p99_rel_max"]:g}: '
                     f'{"met" if ok_time and ok_acc else "NOT met"}')
    return lines


def _probe(probe: dict[str, float] | None) -> str:
    if not probe:
        return '?'
    return f'{probe["gemm_fp32_gflops"]:.0f} / {probe["gemm_bf16_gflops"]:.0f}'


def markdown(doc: dict[str, Any]) -> str:
    """Return the results as a Markdown table (skipped rows listed with their reason)."""
    m = doc['machine']
    rounds = f' in {doc["rounds"]} interleaved rounds' if doc.get('rounds', 1) > 1 else ''
    lines = [f'{doc["encoder"]}, frame {doc["frame"][0]}x{doc["frame"][1]}, {m["cpu"]}, '
             f'{m["threads"]} threads, torch {m["torch"]}, openvino {m["openvino"]}, '
             f'onnxruntime {m["onnxruntime"]}; {doc["repeats"]} timed frames per row{rounds}',
             '',
             f'host: {m.get("cpu_mhz") or "?"} MHz; GEMM 1536² fp32 / bf16 GFLOP/s before '
             f'{_probe(doc.get("host_probe_before"))}, '
             f'after {_probe(doc.get("host_probe_after"))}',
             '',
             '| backend | precision | input | network | median ms | p90 ms | min ms | fps | '
             'forward ms | preprocess ms | first call s | max abs | median rel | p99 rel |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in doc['results']:
        if 'skipped' in r:
            lines.append(f'| {r["backend"]} | {r["precision"]} | {r["input_size"]} | '
                         f'skipped: {r["skipped"]} |||||||||||')
            continue
        lines.append(
            f'| {r["backend"]} | {r["precision"]} | {r["input_size"]} | '
            f'{r["network_hw"][0]}x{r["network_hw"][1]} | {r["median_ms"]:.1f} | '
            f'{r["p90_ms"]:.1f} | {r["min_ms"]:.1f} | {r["fps"]:.1f} | '
            f'{r["forward_median_ms"]:.1f} | {r["preprocess_median_ms"]:.1f} | '
            f'{r["first_call_s"]:.1f} | {r["max_abs"]:.1e} | {r["median_rel"]:.1e} | '
            f'{r["p99_rel"]:.1e} |')
    targets = check_targets(doc)
    if targets:
        lines += ['', *[f'* {t}' for t in targets]]
    return '\n'.join(lines)


def write_report(doc: dict[str, Any], to_markdown: Callable[[dict[str, Any]], str],
                 out: Path) -> None:
    """Write ``doc`` to ``out`` (JSON) and its table next to it (``.md``); print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + '\n')
    table = to_markdown(doc)
    out.with_suffix('.md').write_text(table + '\n')
    print(table)
    print(f'\nwrote {out} and {out.with_suffix(".md")}')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    def csv(kind: type) -> Any:
        return lambda s: [kind(v) for v in s.split(',') if v]

    def hw(s: str) -> tuple[int, int]:
        h, w = s.lower().split('x')
        return int(h), int(w)

    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--encoder', default='vits', help='vits | vitb | vitl | tiny (default vits)')
    p.add_argument('--checkpoint', default=None, help='real checkpoint (default: untrained)')
    p.add_argument('--backends', type=csv(str), default=['torch', 'openvino', 'onnxruntime'],
                   help='comma list of torch, openvino, onnxruntime, tensorrt')
    p.add_argument('--precisions', type=csv(str), default=['fp32', 'bf16'],
                   help='comma list of fp32, bf16, fp16')
    p.add_argument('--input-sizes', type=csv(int), default=[518, 364, 266])
    p.add_argument('--frame', type=hw, default=(480, 640), help='camera frame HxW')
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--rounds', type=int, default=1,
                   help='split the timed frames of every row over this many interleaved '
                        'rounds (use 3+ on a shared host)')
    p.add_argument('--ref-repeats', type=int, default=3,
                   help='timed frames of the torch fp32 reference (slow on CPU)')
    p.add_argument('--exact', action='store_true', help='official float64 preprocessing')
    p.add_argument('--quick', action='store_true', help='1 warm-up, 3 timed frames per row')
    p.add_argument('--cache-dir', default=None,
                   help='cache root for exported engines (default: a fresh temp dir, so '
                        '"first call" includes the export)')
    p.add_argument('--out', type=Path, default=Path('out/bench/backends.json'))
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.repeats, args.ref_repeats = 1, 3, 1
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write JSON + Markdown next to each other, print the table."""
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    args = parse_args(argv)
    write_report(run(args), markdown, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
