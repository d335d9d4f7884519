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

"""Temporal consistency on synthetic trajectories (``core/temporal.py``, ``synth --sequence``).

    python benchmarks/bench_temporal.py [--quick] [--scenes 3] [--frames 90] [--inference]

Each scene of ``training/sequences.py`` is filmed along its trajectory (smooth motion, a stop,
a fast turn, a rolling ball). The "network" is a noisy-predictor stand-in: the exact disparity
``a_t / depth + c_t`` with a per-frame scale and shift jitter (``--jitter``) and spatially
correlated per-pixel noise (``--noise``, Gaussian-blurred white noise of ``--corr-px`` pixels,
new every frame), as in ``bench_alignment.py``. Anchors: ``--anchors`` (200) sparse range points
per frame (``--anchor-noise`` 5 cm, 10 % outliers; ``bench_alignment.sparse_points``). Modes:

* ``per-frame``: each frame's own fit of ``(scale, shift)`` to its anchors;
* ``alignment filter``: the fits through ``AlignmentFilter`` (the global scale steadied);
* ``fuse``: the filtered alignment, then ``TemporalFusion`` on the aligned inverse depth with
  the true camera poses (its ``scale_epoch`` = the filter's restarts).

Scores (``training/metrics.py``): TAE and flicker over consecutive frames (static points seen
in both, the ball left out), AbsRel against the truth over all pixels, AbsRel on the ball's
pixels (smearing shows there), frames without depth, and ms per frame of each mode's own work.
Then the cost of one fusion update at 640x480 and, with ``--inference``, of one DA-V2 ViT-S
forward pass at 640x480 (input 518, untrained weights, this machine's CPU), timed in turns with
the fusion so that both see the same load.
Prints the table and writes ``bench_temporal.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import time
from typing import Any

import cv2
import numpy as np

from depth_anything_ros.core import alignment as al
from depth_anything_ros.core import temporal as tp
from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.offline.bench import environment, latency_stats, timed_ms
from depth_anything_ros.training import sequences
from depth_anything_ros.training.metrics import TemporalAccumulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_alignment import sparse_points  # noqa: E402  (the same anchors as that benchmark)

MODES = ('per-frame', 'alignment filter', 'fuse')


def network(depth: np.ndarray, rng: np.random.Generator, t: float, jitter: float,
            noise: float, corr_px: float) -> np.ndarray:
    """Return the noisy-predictor stand-in's affine-invariant disparity of ``depth`` (H, W)."""
    a = 4.0 * math.exp(0.03 * math.sin(2 * math.pi * t / 10.0) + rng.normal(0, jitter))
    c = 0.4 * (1.0 + 0.03 * math.sin(2 * math.pi * t / 7.0)) + rng.normal(0, 0.4 * jitter)
    white = rng.normal(0, 1, depth.shape).astype(np.float32)
    field = cv2.GaussianBlur(white, (0, 0), corr_px) if corr_px > 0 else white
    field *= noise / max(float(field.std()), 1e-9)                 # relative std ``noise``
    with np.errstate(divide='ignore'):
        inv = np.where(np.isfinite(depth), 1.0 / depth, np.nan)
    return ((a * inv + c) * np.exp(field)).astype(np.float32)


def run_scene(frames: list[sequences.SequenceFrame], intr: Intrinsics, rng: np.random.Generator,
              args: argparse.Namespace, accs: dict[str, TemporalAccumulator],
              stats: dict[str, dict[str, list[float]]], name: str) -> dict[str, Any]:
    """Run the three modes over one sequence; add to the accumulators and stats."""
    filt = al.AlignmentFilter()
    fusion = tp.TemporalFusion()
    for f in frames:
        if args.estimator is not None:   # a real model's output, as inverse depth
            pred = args.estimator.infer(f.rgb, 'rgb8')
            with np.errstate(divide='ignore', invalid='ignore'):
                disp = np.where(pred > 0, 1.0 / pred, np.nan).astype(np.float32)
        else:
            disp = network(f.depth, rng, f.stamp_s, args.jitter, args.noise, args.corr_px)
        uv, z = sparse_points(f.depth, rng, n=args.anchors, noise=args.anchor_noise)
        t0 = time.perf_counter()
        fit = al.fit_inverse_depth_points(disp, uv, z)
        t1 = time.perf_counter()
        filtered = filt.update(fit, f.stamp_s)
        t2 = time.perf_counter()
        outputs = {'per-frame': fit.depth(disp) if fit.ok else None,
                   'alignment filter': filtered.depth(disp) if filtered.valid else None}
        t3 = time.perf_counter()
        fused = None
        if filtered.valid:
            inverse = (disp * np.float32(filtered.scale) + np.float32(filtered.shift))
            result = fusion.update(f.stamp_s, inverse, intr, f.pose, space='inverse_depth',
                                   image=f.rgb, scale_epoch=filt.restarts)
            with np.errstate(divide='ignore', invalid='ignore'):
                fused = np.where(result.values > 0, 1.0 / result.values, np.nan)
        t4 = time.perf_counter()
        outputs['fuse'] = fused
        cost = {'per-frame': t1 - t0, 'alignment filter': t2 - t0,
                'fuse': (t2 - t0) + (t4 - t3)}
        valid = np.isfinite(f.depth)
        static = ~f.moving
        for mode in MODES:
            s = stats[mode]
            s['ms'].append(1e3 * cost[mode])
            est = outputs[mode]
            if est is None:
                s['no_depth'].append(1.0)
                continue
            s['no_depth'].append(0.0)
            ok = valid & np.isfinite(est)
            s['absrel'].append(float(np.mean(np.abs(est[ok] - f.depth[ok]) / f.depth[ok])))
            ball = ok & f.moving
            if ball.sum() >= 20:
                s['ball_absrel'].append(
                    float(np.mean(np.abs(est[ball] - f.depth[ball]) / f.depth[ball])))
            accs[mode].add(f'{name}', est, np.where(valid, f.depth, np.nan), intr, f.pose,
                           static)
    return {'fusion': fusion.status(), 'filter_restarts': filt.restarts}


def _fusion_step(seed: int):  # noqa: ANN202 (returns a closure)
    """Return a function doing one ``TemporalFusion.update`` on a moving 640x480 frame."""
    frames, cam = sequences.render_sequence('indoor', 0, seed, 2, (480, 640))
    intr = Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
    inv = [np.where(np.isfinite(f.depth), 1.0 / f.depth, np.nan).astype(np.float32)
           for f in frames]
    # the first two frames of the trajectory barely move; use a real step instead
    step = tp.pose_matrix([0.01, 0.0, 0.02], [0.0, math.sin(0.004), 0.0, math.cos(0.004)])
    poses = [frames[0].pose, frames[0].pose @ step]
    fusion = tp.TemporalFusion()
    clock = iter(range(10 ** 9))

    def one() -> None:
        k = next(clock)
        fusion.update(k / 30.0, inv[k % 2], intr, poses[k % 2], space='inverse_depth',
                      image=frames[k % 2].rgb)
    return one


def cost_640x480(repeats: int, seed: int, inference: bool) -> dict[str, Any]:
    """Milliseconds of one fusion update at 640x480 (median, p90, min).

    With ``inference``, DA-V2 ViT-S (untrained weights, input 518, this CPU) is timed in turns
    with the fusion (one forward pass, then five updates, ``repeats`` times), so that both see
    the same load on a shared machine; ``share`` is the median of the per-turn ratios.
    """
    fuse = _fusion_step(seed)
    if not inference:
        return {'fusion_update': latency_stats(timed_ms(fuse, repeats * 5))}
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.offline.bench import load_network
    est = DepthEstimator(load_network('untrained', 'vits'), device='cpu', input_size=518)
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    est.infer(rgb, 'rgb8')
    fused, infer, shares = [], [], []
    for _ in range(repeats):
        t_inf = timed_ms(lambda: est.infer(rgb, 'rgb8'), 1, warmup=0)
        t_fus = timed_ms(fuse, 5, warmup=1)
        infer += t_inf
        fused += t_fus
        shares.append(float(np.median(t_fus)) / t_inf[0])
    return {'fusion_update': latency_stats(fused), 'inference_vits': latency_stats(infer),
            'share': float(np.median(shares))}


def summarise(accs: dict[str, TemporalAccumulator],
              stats: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Return each mode's table row: TAE, flicker, AbsRel (all and on the ball), ms, no depth."""
    rows = {}
    for m, acc in accs.items():
        t = acc.result()
        s = stats[m]
        rows[m] = {'tae': t['tae'], 'flicker': t['flicker'], 'n_frame_pairs': t['n_pairs'],
                   'absrel': float(np.mean(s['absrel'])) if s['absrel'] else math.nan,
                   'ball_absrel': float(np.mean(s['ball_absrel'])) if s['ball_absrel']
                   else math.nan,
                   'ms_per_frame': float(np.median(s['ms'])),
                   'frames_without_depth': int(sum(s['no_depth'])),
                   'frames': len(s['no_depth'])}
    return rows


def fmt(v: float, pct: bool = True) -> str:
    if isinstance(v, float) and math.isnan(v):
        return '-'
    return f'{100 * v:.2f}%' if pct else f'{v:.2f}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='one short small sequence')
    parser.add_argument('--scenes', type=int, default=3)
    parser.add_argument('--frames', type=int, default=90)
    parser.add_argument('--size', default='240x320', help='HxW of the sequences')
    parser.add_argument('--jitter', type=float, default=0.01,
                        help="the network's per-frame scale/shift jitter (relative std)")
    parser.add_argument('--noise', type=float, default=0.03,
                        help='relative std of the correlated per-pixel noise')
    parser.add_argument('--corr-px', type=float, default=3.0,
                        help='correlation length of the pixel noise, pixels')
    parser.add_argument('--anchors', type=int, default=200, help='range points per frame')
    parser.add_argument('--anchor-noise', type=float, default=0.05, help='their noise, metres')
    parser.add_argument('--seed', type=int, default=3)
    parser.add_argument('--inference', action='store_true',
                        help='also time DA-V2 ViT-S at 640x480 on this CPU (slow)')
    parser.add_argument('--model', default='',
                        help='a checkpoint (e.g. rooms_tiny, the bundled toy) to run instead of '
                             'the noisy-predictor stand-in; its output is aligned as inverse '
                             'depth')
    parser.add_argument('--input-size', type=int, default=196, help="the model's input size")
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    args.estimator = None
    if args.model:
        from depth_anything_ros.estimator import DepthEstimator
        args.estimator = DepthEstimator.from_config(
            args.model, device='cpu', backend='torch', precision='fp32',
            input_size=args.input_size, allow_untrained=True)
    size = tuple(int(v) for v in args.size.split('x'))
    scenes, num = (1, 60) if args.quick else (args.scenes, args.frames)
    if args.quick:
        size = (size[0] // 2, size[1] // 2)
    accs = {m: TemporalAccumulator() for m in MODES}
    stats = {m: {'absrel': [], 'ball_absrel': [], 'ms': [], 'no_depth': []} for m in MODES}
    rng = np.random.default_rng([args.seed, 5])
    per_scene = []
    for k in range(scenes):
        frames, cam = sequences.render_sequence('indoor', k, args.seed, num, size)
        intr = Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
        per_scene.append(run_scene(frames, intr, rng, args, accs, stats, f's{k}'))
        print(f'scene {k}: {per_scene[-1]}', flush=True)
    rows = summarise(accs, stats)
    base = rows['per-frame']
    lines = ['| mode | TAE | flicker | AbsRel | AbsRel on the ball | ms/frame | no depth |',
             '|---|---|---|---|---|---|---|']
    for m, r in rows.items():
        lines.append(f"| {m} | {fmt(r['tae'])} | {fmt(r['flicker'])} | {fmt(r['absrel'])} | "
                     f"{fmt(r['ball_absrel'])} | {r['ms_per_frame']:.2f} | "
                     f"{r['frames_without_depth']}/{r['frames']} |")
    fuse = rows['fuse']
    gains = {'tae_x': base['tae'] / fuse['tae'], 'flicker_x': base['flicker'] / fuse['flicker'],
             'absrel_change': fuse['absrel'] / base['absrel'] - 1.0,
             'ball_absrel_change': fuse['ball_absrel'] / base['ball_absrel'] - 1.0}
    cost = cost_640x480(3 if args.quick else 8, args.seed, args.inference)
    print('\n'.join(lines))
    print(f"fuse vs per-frame: TAE {gains['tae_x']:.1f}x lower, flicker "
          f"{gains['flicker_x']:.1f}x lower, AbsRel {100 * gains['absrel_change']:+.2f} %, "
          f"ball AbsRel {100 * gains['ball_absrel_change']:+.2f} %")
    for name, v in cost.items():
        if isinstance(v, dict):
            print(f"640x480 {name}: median {v['median_ms']:.1f} ms, p90 {v['p90_ms']:.1f} ms, "
                  f"min {v['min_ms']:.1f} ms")
    if 'share' in cost:
        print(f"fusion / inference at 640x480 (timed in turns): {100 * cost['share']:.1f} %")
    args.out.mkdir(parents=True, exist_ok=True)
    network_name = args.model or 'noisy-predictor stand-in'
    report = {'network': network_name, 'jitter': args.jitter,
              'anchors': args.anchors, 'anchor_noise': args.anchor_noise,
              'noise': args.noise, 'corr_px': args.corr_px, 'scenes': scenes, 'frames': num,
              'size': size, 'seed': args.seed, 'rows': rows, 'fuse_vs_per_frame': gains,
              'per_scene': per_scene, 'cost': cost, 'options': vars(tp.FusionOptions()),
              'environment': environment()}
    path = args.out / 'bench_temporal.json'
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
