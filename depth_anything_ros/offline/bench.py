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

"""Latency, throughput and accuracy of the depth pipeline (``depth-anything-ros bench``).

Axes (comma-separated lists, every combination is measured): encoder, input size, precision,
preprocessing mode (exact | fast), batch size and backend (torch, or an exported runtime from
``depth_anything_ros.backends``). For each point it times the network alone
(``DepthEstimator.forward`` on a preprocessed tensor) and ``infer_batch`` end to end on a
480x640 frame, and compares the depth with the fp32 exact torch reference (max abs, median and
99th-percentile relative difference).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
import itertools
import logging
import os
import platform
import time
from typing import Any

import numpy as np
import torch

from depth_anything_ros.backends.select import cpu_name
from depth_anything_ros.errors import user_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchPoint:
    """One measured configuration."""

    encoder: str
    input_size: int
    precision: str
    mode: str  # 'exact' (official float64 preprocessing) or 'fast' (on-device float32)
    batch: int
    backend: str
    device: str


def synthetic_frame(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """Deterministic textured BGR frame (uint8 HxWx3): gradients, discs and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width * 255, y / height * 255,
                    127 + 100 * np.sin(x / 23.0) * np.cos(y / 17.0)], axis=-1)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(15, 90)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def accuracy(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Max abs, median and p99 relative difference of ``pred`` vs ``ref`` (same shape)."""
    diff = np.abs(pred.astype(np.float64) - ref)
    rel = diff / np.maximum(np.abs(ref), 1e-6)
    return {'max_abs': float(diff.max()), 'median_rel': float(np.median(rel)),
            'p99_rel': float(np.percentile(rel, 99))}


def timed_ms(fn: Callable[[], Any], runs: int, warmup: int = 3,
             sync: Callable[[], Any] = lambda: None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; return each run's milliseconds.

    ``sync`` waits for queued device work (``torch.cuda.synchronize``) so it is counted.
    """
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def latency_stats(times_ms: list[float], batch: int = 1) -> dict[str, float]:
    """Median, p90 and minimum of ``times_ms``, and items per second at the median."""
    med = float(np.median(times_ms))
    return {'median_ms': med, 'p90_ms': float(np.percentile(times_ms, 90)),
            'min_ms': float(np.min(times_ms)), 'fps': 1e3 * batch / med, 'n': len(times_ms)}


def load_network(checkpoint: str, encoder: str, weights_dir: str | None = None
                 ) -> torch.nn.Module:
    """Load the network to time: ``checkpoint`` (untrained: test weights) as ``encoder``."""
    from depth_anything_ros.estimator import load_checked_model
    return load_checked_model(checkpoint, encoder=encoder, weights_dir=weights_dir,
                              allow_untrained=checkpoint.startswith('untrained'))


def family_input_size(model: Any, size: int, height: int, width: int) -> int:
    """Return the input size giving ``model`` the network input short side ``size`` gives.

    Sizes on the bench are short sides (Depth Anything V2's rule): a family whose input rule
    sets the longest side (Depth Anything 3) gets the longest side of that same network input
    for a ``height`` x ``width`` frame, so every family is timed at the same processing
    resolution.
    """
    from depth_anything_ros.models.registry import family
    from depth_anything_ros.models.transforms import target_size
    name = getattr(model, 'family', None)
    if not isinstance(name, str) or family(name).input.aspect != 'longest':
        return size
    return max(target_size(height, width, size))


def measure(point: BenchPoint, model: torch.nn.Module, frame: np.ndarray,
            reference: np.ndarray | None, runs: int, warmup: int,
            compile: bool = False, trt_profile: tuple | None = None) -> dict[str, Any]:
    """Time one configuration; returns a JSON-able row."""
    from depth_anything_ros.estimator import DepthEstimator
    size = family_input_size(model, point.input_size, *frame.shape[:2])
    est = DepthEstimator(model, device=point.device, precision=point.precision,
                         input_size=size, exact=point.mode == 'exact',
                         backend=point.backend, compile=compile, trt_profile=trt_profile)

    def sync() -> None:
        if est.device.type == 'cuda':
            torch.cuda.synchronize(est.device)

    frames = [frame] * point.batch
    x = est.preprocess(frames)  # (B, 3, h, w)
    forward = timed_ms(lambda: est.forward(x), runs, warmup, sync)
    timings: list[dict[str, float]] = []

    def infer() -> None:
        est.infer_batch(frames)
        timings.append(dict(est.last_timings))

    end_to_end = timed_ms(infer, runs, warmup, sync)
    stages = {k: float(np.median([t[k] for t in timings[warmup:]])) for k in timings[0]}
    # backend/precision 'auto' are recorded as what they resolved to, with the reason.
    row: dict[str, Any] = {**asdict(point), 'backend': est.backend, 'precision': est.precision,
                           'choice': est.choice.reason, 'net_input': list(x.shape[-2:]),
                           'family_input_size': size,
                           'forward': latency_stats(forward, point.batch),
                           'infer': latency_stats(end_to_end, point.batch), 'stages_ms': stages,
                           'runtime': est.backend_report}
    if reference is not None:
        row['accuracy'] = accuracy(est.infer(frame), reference)
    return row


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    env = {'torch': torch.__version__, 'numpy': np.__version__,
           'python': platform.python_version(),
           'cpu': cpu_name(), 'logical_cpus': os.cpu_count(),
           'torch_threads': torch.get_num_threads(),
           'cuda': torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    try:
        import cv2
        env['opencv'] = cv2.__version__
    except ImportError:
        pass
    return env


def skip_reason(backend: str, precision: str, device: torch.device | str,
                exact: bool = False, model: Any = None) -> str | None:
    """Why ``backend`` x ``precision`` (``exact``: the exact path) cannot run on ``device`` here.

    None when it can: the estimator's own rule (backends.select.choose) decides, with what
    ``model``'s family runs on.
    """
    from depth_anything_ros.backends.devices import resolve_device
    from depth_anything_ros.backends.select import choose_here, ModelSupport
    from depth_anything_ros.models.registry import family
    device = resolve_device(device) if str(device) == 'auto' else torch.device(device)
    name = getattr(model, 'family', None)
    support = None
    if isinstance(name, str):
        fam = family(name)
        support = ModelSupport(fam.title, fam.backends, fam.precisions)
    try:
        choose_here(str(device), backend=backend, precision=precision, exact=exact,
                    support=support)
    except ValueError as exc:
        return str(exc)
    return None


def expand_backends(requested: list[str]) -> list[str]:
    """``all`` -> every installed backend (torch first); other names pass through, in order."""
    from depth_anything_ros.backends import available_backends
    out: list[str] = []
    for name in requested:
        for backend in (available_backends() if name == 'all' else [name]):
            if backend not in out:
                out.append(backend)
    return out


def run(encoders: list[str], input_sizes: list[int], precisions: list[str], modes: list[str],
        batches: list[int], backends: list[str], device: str = 'cpu',
        checkpoint: str = 'untrained', weights_dir: str | None = None, runs: int = 10,
        warmup: int = 2, with_accuracy: bool = True, compile: bool = False,
        trt_profile: tuple | None = None) -> list[dict]:
    """Measure every combination of the axes; returns one row per point.

    ``trt_profile``: TensorRT optimisation profile (min, opt, max) for the TensorRT-based
    backends (default: the node's default profile); it must cover the largest batch.
    """
    from tqdm import tqdm

    from depth_anything_ros.estimator import DepthEstimator

    frame = synthetic_frame()
    rows = []
    points = list(itertools.product(encoders, input_sizes, precisions, modes, batches,
                                    backends))
    bar = None
    for encoder in encoders:
        with user_errors(ValueError, FileNotFoundError):   # the checkpoint and encoder named
            model = load_network(checkpoint, encoder, weights_dir)
        if bar is None:   # after the first network loads: a bad checkpoint shows no bar
            bar = tqdm(points, desc='bench', unit='cfg')
        refs: dict[int, np.ndarray] = {}
        for enc, size, precision, mode, batch, backend in points:
            if enc != encoder:
                continue
            if with_accuracy and size not in refs:
                ref_est = DepthEstimator(model, device='cpu', exact=True,
                                         input_size=family_input_size(model, size,
                                                                      *frame.shape[:2]),
                                         channels_last=False)
                refs[size] = ref_est.infer(frame)  # fp32 exact torch reference
            point = BenchPoint(encoder, size, precision, mode, batch, backend, device)
            bar.set_postfix_str(f'{encoder} {size} {precision} {mode} b{batch} {backend}')
            reason = skip_reason(backend, precision, device, exact=mode == 'exact',
                                 model=model)
            if reason is not None:  # a combination this machine cannot run: say so, go on
                rows.append({**asdict(point), 'skipped': reason})
                bar.update()
                continue
            try:
                row = measure(point, model, frame, refs.get(size), runs, warmup, compile,
                              trt_profile)
            except (ValueError, RuntimeError, ImportError) as exc:
                log.warning('skipped %s: %s', point, exc)
                row = {**asdict(point), 'error': str(exc)}
            rows.append(row)
            bar.update()
        del model
    if bar is not None:
        bar.close()
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table of the rows."""
    head = (f'{"encoder":<10} {"size":>4} {"prec":<4} {"mode":<5} {"B":>2} {"backend":<11} '
            f'{"net in":>9} {"fwd med":>8} {"fwd p90":>8} {"infer med":>9} {"infer p90":>9} '
            f'{"fps":>6} {"max abs":>8} {"med rel":>8} {"p99 rel":>8}')
    lines = [head, '-' * len(head)]
    for r in rows:
        left = (f'{r["encoder"]:<10} {r["input_size"]:>4} {r["precision"]:<4} {r["mode"]:<5} '
                f'{r["batch"]:>2} {r["backend"]:<11} ')
        if 'error' in r:
            lines.append(left + f'error: {r["error"][:80]}')
            continue
        if 'skipped' in r:
            lines.append(left + f'skipped: {r["skipped"]}')
            continue
        acc = r.get('accuracy', {})
        accs = ' '.join(f'{acc[k]:8.1e}' if k in acc else f'{"-":>8}'
                        for k in ('max_abs', 'median_rel', 'p99_rel'))
        lines.append(left + f'{"x".join(map(str, r["net_input"])):>9} '
                     f'{r["forward"]["median_ms"]:8.1f} {r["forward"]["p90_ms"]:8.1f} '
                     f'{r["infer"]["median_ms"]:9.1f} {r["infer"]["p90_ms"]:9.1f} '
                     f'{r["infer"]["fps"]:6.2f} {accs}')
    return '\n'.join(lines)
