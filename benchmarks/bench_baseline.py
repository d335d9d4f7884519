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
with this package's fast paths, so that a busy or throttled machine slows every row alike.

    python benchmarks/bench_baseline.py [--input-size 518] [--rounds 8] [--out out/bench]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
import contextlib
import json
from pathlib import Path
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from depth_anything_ros.bench import accuracy, environment, synthetic_frame
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import dinov2, untrained_model


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


def variants(input_size: int) -> dict[str, Callable[[], DepthEstimator]]:
    """Name -> factory of the estimator that runs that variant."""
    def make(**kw: Any) -> Callable[[], DepthEstimator]:
        return lambda: DepthEstimator(untrained_model('vits', warn=False), device='cpu',
                                      input_size=input_size, **kw)
    out = {
        'reference style: fp32 eager, explicit attention, float64 preprocessing':
            make(exact=True, channels_last=False),
        'torch fp32, exact preprocessing': make(exact=True),
        'torch bf16': make(precision='bf16'),
    }
    try:
        import openvino  # noqa: F401
        out['OpenVINO bf16'] = make(precision='bf16', backend='openvino')
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input-size', type=int, default=518)
    parser.add_argument('--rounds', type=int, default=8, help='timed frames per variant')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args(argv)
    frame = synthetic_frame()
    names = list(variants(args.input_size))
    estimators = {n: f() for n, f in variants(args.input_size).items()}
    reference_name = names[0]

    def run(name: str) -> np.ndarray:
        if name == reference_name:
            with reference_attention():
                return estimators[name].infer(frame)
        return estimators[name].infer(frame)

    outputs = {n: run(n) for n in names}  # warm-up; also the accuracy comparison
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.rounds):  # interleaved: machine load hits every variant alike
        for n in names:
            t0 = time.perf_counter()
            run(n)
            times[n].append(1e3 * (time.perf_counter() - t0))
    ref_ms = float(np.median(times[reference_name]))
    rows = []
    print(f'\nViT-S, 480x640 frame, input {args.input_size}, {torch.get_num_threads()} threads, '
          f'{args.rounds} interleaved rounds')
    print(f'{"variant":<72} {"median ms":>9} {"p90 ms":>8} {"speed-up":>8} {"p99 rel":>8}')
    for n in names:
        med = float(np.median(times[n]))
        acc = accuracy(outputs[n], outputs[reference_name])
        rows.append({'variant': n, 'median_ms': med, 'p90_ms': float(np.percentile(times[n], 90)),
                     'min_ms': float(np.min(times[n])), 'speedup': ref_ms / med, **acc})
        print(f'{n:<72} {med:9.1f} {rows[-1]["p90_ms"]:8.1f} {ref_ms / med:7.2f}x '
              f'{acc["p99_rel"]:8.1e}')
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f'baseline_{args.input_size}.json'
    path.write_text(json.dumps({'input_size': args.input_size, 'rounds': args.rounds,
                                'environment': environment(), 'rows': rows}, indent=1))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
