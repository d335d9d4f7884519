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

"""Speed-up over the reference execution style, measured on the same machine at the same time.

The reference implementation runs fp32 eager PyTorch with explicit softmax attention, NCHW
tensors and float64 OpenCV preprocessing. This benchmark times that execution style (our
network, whose outputs match the reference's, with its attention switched to the explicit
form and channels_last off, through the exact preprocessing path) interleaved, round by round,
with this package's paths, so that a busy or throttled machine slows every row alike.

The reference row runs in this process, in its environment (as the official code runs); the
other rows run in a child process with ``OMP_WAIT_POLICY=PASSIVE``, as the node and the CLI set
it (``depth_anything_ros/core/openmp.py``); the parent drives the child frame by frame over a
pipe,
so the rows still interleave. ``--same-process`` runs every row here instead.

Rows: the reference style; ``exact`` (the node's ``exact: true``: torch fp32 with the official
float64 preprocessing); ``default`` (what ``backend: auto`` / ``precision: auto`` run on this
machine, as the node and ``demo`` do); then every installed backend x precision this machine
can run (fast preprocessing). Each row: median and p90 ms over interleaved rounds, speed-up
over the reference style, and accuracy against the reference output (the official fp32
numerics). The verdicts check that the default is the fastest row within p99 <= 3 %, and the
speed-up targets of docs/backends.md.

    python benchmarks/bench_baseline.py [--input-size 518] [--rounds 8] [--out out/bench]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
import contextlib
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from depth_anything_ros.backends import BACKENDS, PRECISIONS
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import untrained_model
from depth_anything_ros.models.da2 import dinov2
from depth_anything_ros.offline.bench import accuracy, environment, skip_reason, synthetic_frame


def _explicit_attention(self: dinov2.Attention, x: Tensor) -> Tensor:
    """Attention as the reference computes it: scaled q @ k^T, softmax, @ v."""
    b, n, d = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
    attn = (q * (d // self.num_heads) ** -0.5) @ k.transpose(-2, -1)  # (B, heads, N, N)
    x = attn.softmax(dim=-1) @ v  # (B, heads, N, head_dim)
    return self.proj(x.transpose(1, 2).reshape(b, n, d))


@contextlib.contextmanager
def reference_attention() -> Iterator[None]:
    """Swap the fused attention for the explicit form while the block runs."""
    fused = dinov2.Attention.forward
    dinov2.Attention.forward = _explicit_attention
    try:
        yield
    finally:
        dinov2.Attention.forward = fused


REFERENCE = 'reference style: fp32 eager, explicit attention, NCHW, float64 preprocessing'
EXACT = 'exact (torch fp32, float64 preprocessing)'
P99_LIMIT = 0.03
TARGETS = {'exact_speedup': 2.0, 'fastest_speedup_518': 9.5}


def variants(input_size: int, cache_dir: Path | None = None
             ) -> dict[str, Callable[[], DepthEstimator]]:
    """Row name -> factory of the estimator that runs it."""
    def make(**kw: Any) -> Callable[[], DepthEstimator]:
        return lambda: DepthEstimator(untrained_model('vits', warn=False), device='cpu',
                                      input_size=input_size, cache_dir=cache_dir, **kw)
    out = {REFERENCE: make(exact=True, channels_last=False),
           EXACT: make(exact=True, backend='auto', precision='auto'),
           'default (backend auto, precision auto)': make(backend='auto', precision='auto')}
    for backend in BACKENDS:
        for precision in PRECISIONS:
            if skip_reason(backend, precision, 'cpu') is None:
                out[f'{backend} {precision}'] = make(backend=backend, precision=precision)
    return out


class Rows:
    """Runs the rows of one process: ``run(name)`` -> ms; ``meta``; ``outputs`` (warm-up)."""

    def __init__(self, names: list[str], input_size: int, cache_dir: Path | None) -> None:
        factories = variants(input_size, cache_dir)
        self.frame = synthetic_frame()
        self.estimators = {n: factories[n]() for n in names}
        self.meta = {n: {'backend': e.backend, 'precision': e.precision, 'exact': e.exact}
                     for n, e in self.estimators.items()}
        self.outputs = {n: self._infer(n) for n in names}  # warm-up: export, compile

    def _infer(self, name: str) -> np.ndarray:
        if name == REFERENCE:
            with reference_attention():
                return self.estimators[name].infer(self.frame)
        return self.estimators[name].infer(self.frame)

    def run(self, name: str) -> float:
        t0 = time.perf_counter()
        self._infer(name)
        return 1e3 * (time.perf_counter() - t0)


class ChildRows:
    """The same rows hosted by a child process (its own environment), driven over a pipe."""

    def __init__(self, names: list[str], args: argparse.Namespace, env: dict[str, str],
                 scratch: Path) -> None:
        command = [sys.executable, __file__, '--serve', '--input-size', str(args.input_size),
                   '--rows', json.dumps(names), '--out', str(scratch)]
        if args.cache_dir is not None:
            command += ['--cache-dir', str(args.cache_dir)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)
        hello = json.loads(self._reply())
        self.meta = hello['meta']
        with np.load(hello['outputs']) as npz:
            self.outputs = {n: npz[f'row{i}'] for i, n in enumerate(names)}

    def _reply(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f'the row process exited ({self.process.wait()})')
        return line

    def run(self, name: str) -> float:
        self.process.stdin.write(name + '\n')
        self.process.stdin.flush()
        return float(self._reply())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve(args: argparse.Namespace) -> int:
    """Child side of :class:`ChildRows`: build the rows, then time one per line of stdin."""
    names = json.loads(args.rows)  # row names contain commas
    rows = Rows(names, args.input_size, args.cache_dir)
    path = args.out / 'outputs.npz'
    np.savez(path, **{f'row{i}': rows.outputs[n] for i, n in enumerate(names)})
    print(json.dumps({'meta': rows.meta, 'outputs': str(path)}), flush=True)
    for line in sys.stdin:
        print(rows.run(line.strip()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input-size', type=int, default=518)
    parser.add_argument('--rounds', type=int, default=8, help='timed frames per row')
    parser.add_argument('--rows', default='',
                        help='comma list of row-name prefixes to run (the reference always '
                             'runs), e.g. "exact,default,openvino"')
    parser.add_argument('--same-process', action='store_true',
                        help='run every row in this process, in its environment (default: '
                             'the reference here, the other rows in a child process with '
                             'OMP_WAIT_POLICY=PASSIVE as the node sets it)')
    parser.add_argument('--cache-dir', type=Path, default=None,
                        help="engine cache (default: the node's)")
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    factories = variants(args.input_size, args.cache_dir)
    wanted = [w for w in args.rows.split(',') if w]
    names = [n for n in factories
             if n == REFERENCE or not wanted or any(n.startswith(w) for w in wanted)]
    ours = [n for n in names if n != REFERENCE]
    policy = os.environ.get('OMP_WAIT_POLICY', 'default')
    with tempfile.TemporaryDirectory(prefix='bench-baseline-') as scratch:
        if args.same_process:
            hosts = dict.fromkeys(names, Rows(names, args.input_size, args.cache_dir))
            ours_policy = policy
        else:
            # The node asks for passive OpenMP waiting (depth_anything_ros/core/openmp.py); the
            # reference runs as the official code does, in this process's environment.
            env = {**os.environ, 'OMP_WAIT_POLICY': 'PASSIVE'}
            ours_policy = env['OMP_WAIT_POLICY']
            child = ChildRows(ours, args, env, Path(scratch))
            hosts = {REFERENCE: Rows([REFERENCE], args.input_size, args.cache_dir),
                     **dict.fromkeys(ours, child)}
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.rounds):  # interleaved: machine load hits every row alike
            for n in names:
                times[n].append(hosts[n].run(n))
        if not args.same_process:
            child.close()
    outputs = {n: hosts[n].outputs[n] for n in names}
    ref_ms = float(np.median(times[REFERENCE]))
    rows = []
    print(f'\nViT-S, 480x640 frame, input {args.input_size}, {torch.get_num_threads()} threads, '
          f'{args.rounds} interleaved rounds; load average before: {os.getloadavg()[0]:.1f}; '
          f'OMP_WAIT_POLICY reference: {policy}, other rows: {ours_policy}')
    print(f'{"row":<76} {"runs":<15} {"median ms":>9} {"p90 ms":>8} {"speed-up":>8} '
          f'{"p99 rel":>8}')
    for n in names:
        meta = hosts[n].meta[n]
        med = float(np.median(times[n]))
        acc = accuracy(outputs[n], outputs[REFERENCE])
        rows.append({'row': n, 'backend': meta['backend'], 'precision': meta['precision'],
                     'exact_preprocessing': meta['exact'], 'median_ms': med,
                     'p90_ms': float(np.percentile(times[n], 90)),
                     'min_ms': float(np.min(times[n])), 'speedup': ref_ms / med,
                     'omp_wait_policy': policy if n == REFERENCE else ours_policy, **acc})
        print(f'{n:<76} {meta["backend"] + " " + meta["precision"]:<15} {med:9.1f} '
              f'{rows[-1]["p90_ms"]:8.1f} {ref_ms / med:7.2f}x {acc["p99_rel"]:8.1e}')
    verdicts = verdicts_of(rows, args.input_size)
    for line in verdicts['lines']:
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f'baseline_{args.input_size}.json'
    path.write_text(json.dumps({'input_size': args.input_size, 'rounds': args.rounds,
                                'load_average': os.getloadavg(),
                                'omp_wait_policy': {'reference': policy, 'rows': ours_policy},
                                'environment': environment(), 'rows': rows,
                                'verdicts': verdicts}, indent=1))
    print(f'wrote {path}')
    return 0


def verdicts_of(rows: list[dict[str, Any]], input_size: int) -> dict[str, Any]:
    """Check the default and the speed-up targets against the measured rows."""
    by = {r['row']: r for r in rows}
    accurate = [r for r in rows if r['p99_rel'] <= P99_LIMIT and r['row'] != REFERENCE]
    fastest = min(accurate, key=lambda r: r['median_ms'])
    out: dict[str, Any] = {'fastest_accurate': fastest['row'], 'lines': []}
    default = next((r for r in rows if r['row'].startswith('default')), None)
    if default is not None:
        # The default row is one of the backend rows run again: compare what it runs.
        same = (default['backend'], default['precision']) == (fastest['backend'],
                                                              fastest['precision'])
        out['default_is_fastest_accurate'] = same
        out['lines'].append(f'default runs {default["backend"]} {default["precision"]}; fastest '
                            f'row within p99 <= {P99_LIMIT:.0%}: {fastest["row"]} -> '
                            + ('met' if same else 'NOT met'))
    if EXACT in by:
        value = by[EXACT]['speedup']
        out['exact_speedup'] = value
        out['lines'].append(f'exact path {value:.2f}x the reference style (target '
                            f'{TARGETS["exact_speedup"]:.1f}x) -> '
                            + ('met' if value >= TARGETS['exact_speedup'] else 'NOT met')
                            + f', max abs {by[EXACT]["max_abs"]:.1e}')
    if input_size == 518:
        value = fastest['speedup']
        out['fastest_speedup'] = value
        out['lines'].append(f'fastest accurate row {value:.2f}x the reference style (target '
                            f'{TARGETS["fastest_speedup_518"]:.1f}x) -> '
                            + ('met' if value >= TARGETS['fastest_speedup_518'] else 'NOT met'))
    return out


if __name__ == '__main__':
    sys.exit(main())
