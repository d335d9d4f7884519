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

"""Several cameras seen as one scene: cross-camera depth agreement and cost per camera.

    python benchmarks/bench_anyview.py [--quick] [--checkpoint da3-small] [--cameras 3]
        [--scenes 4] [--size 240x320] [--input-size 504] [--runs 5] [--out DIR]

Each synthetic indoor scene (``training/synth.py``) is rendered by two or three cameras of one
rig with known poses: the first at the scene's camera, the others ``--baseline`` metres to its
right / left, turned ``--yaw`` degrees towards the middle, so their views overlap. An any-view
Depth Anything 3 network then sees the views

* ``single-view``: each image alone (today's node without ``multiview_slop``);
* ``any-view``: all views in one forward pass (``DepthEstimator.estimate_views``);
* ``any-view + poses``: the same pass conditioned on the rig's poses (``core.multiview``).

The relative depth of each camera is aligned to the truth (a least-squares scale and shift of
its inverse, as the node's alignment does), ``per camera`` (each camera its own fit) and
``shared`` (camera 0's fit for all: what one scale across cameras is worth). Agreement: camera
A's aligned depth is moved into camera B with the known poses and compared with B's own depth
where both see the same surface (the truth agrees within 2 %): the median relative difference
and the share of pixels more than 5 % apart, over every ordered pair of cameras. AbsRel: each
camera's aligned depth against the truth. Cost: milliseconds of network work per camera
(``--runs`` timed calls after warm-up; the single-view row batches the cameras' images as the
node does). With untrained (deterministic) weights the agreement numbers only show that the
pipeline runs: they say nothing of the model's quality (the output says so).
Prints the table and writes ``bench_anyview.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.core.multiview import pose_tensor
from depth_anything_ros.offline.bench import environment, latency_stats, timed_ms
from depth_anything_ros.training import synth

METHODS = ('single-view', 'any-view', 'any-view + poses')
AGREE_TOL = 0.05        # relative depth difference counted as a disagreement
VISIBLE_TOL = 0.02      # the truth must agree this well for a pixel to count as seen by both


def rig(scene: synth.Scene, cameras: int, baseline: float, yaw_deg: float
        ) -> list[tuple[synth.Scene, np.ndarray]]:
    """Return each camera's scene (its pose) and ``T_common_camera`` (4x4) of the rig."""
    right = scene.rotation[:, 0]                           # the first camera's x axis (world)
    out = []
    for side in (0.0, 1.0, -1.0)[:cameras]:
        yaw = -side * math.radians(yaw_deg)                # turned towards the middle
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ scene.rotation
        origin = scene.origin + side * baseline * right
        view = replace(scene, origin=origin, rotation=rot)
        out.append((view, synth.camera_pose(origin, rot)))
    return out


def fit_inverse(depth: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``1/truth = a / depth + b`` over the valid pixels."""
    ok = np.isfinite(depth) & (depth > 0) & np.isfinite(truth) & (truth > 0)
    x, y = 1.0 / depth[ok], 1.0 / truth[ok]
    a, b = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]
    return float(a), float(b)


def apply_fit(depth: np.ndarray, fit: tuple[float, float]) -> np.ndarray:
    """Aligned metric depth of a relative ``depth`` (NaN where the fit gives no depth)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = fit[0] / depth + fit[1]
        return np.where(inv > 0, 1.0 / inv, np.nan)


def correspondences(truth_a: np.ndarray, truth_b: np.ndarray, k: np.ndarray,
                    a_to_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of A seen by B as the same surface: A's (row, col), B's (row, col)."""
    h, w = truth_a.shape
    va, ua = np.nonzero(np.isfinite(truth_a) & (truth_a > 0))
    zb = z_in_b(truth_a[va, ua], va, ua, k, a_to_b)
    pb = to_b(truth_a[va, ua], va, ua, k, a_to_b)
    with np.errstate(divide='ignore', invalid='ignore'):
        ub = np.round(k[0, 0] * pb[0] / zb + k[0, 2])
        vb = np.round(k[1, 1] * pb[1] / zb + k[1, 2])
    inside = (zb > 0) & (ub >= 0) & (ub < w) & (vb >= 0) & (vb < h)
    va, ua, vb, ub, zb = va[inside], ua[inside], vb[inside].astype(int), ub[inside].astype(int), \
        zb[inside]
    seen = np.abs(zb - truth_b[vb, ub]) <= VISIBLE_TOL * truth_b[vb, ub]   # not occluded
    return va[seen], ua[seen], vb[seen], ub[seen]


def to_b(z: np.ndarray, v: np.ndarray, u: np.ndarray, k: np.ndarray,
         a_to_b: np.ndarray) -> np.ndarray:
    """Points (3, N) in camera B of A's pixels (v, u) at depth z."""
    pts = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], 0)
    return a_to_b[:3, :3] @ pts + a_to_b[:3, 3:]


def z_in_b(z: np.ndarray, v: np.ndarray, u: np.ndarray, k: np.ndarray,
           a_to_b: np.ndarray) -> np.ndarray:
    """Depth in camera B of A's pixels (v, u) at depth z."""
    return to_b(z, v, u, k, a_to_b)[2]


def agreement(depths: list[np.ndarray], truths: list[np.ndarray], k: np.ndarray,
              poses: list[np.ndarray]) -> np.ndarray:
    """Relative differences, in camera B, of A's depth moved into B and B's own depth.

    Over every ordered pair of cameras and the pixels both see as the same surface.
    """
    diffs = [np.zeros(0)]
    for a in range(len(depths)):
        for b in range(len(depths)):
            if a == b:
                continue
            a_to_b = np.linalg.inv(poses[b]) @ poses[a]
            va, ua, vb, ub = correspondences(truths[a], truths[b], k, a_to_b)
            moved = z_in_b(depths[a][va, ua], va, ua, k, a_to_b)
            theirs = depths[b][vb, ub]
            ok = np.isfinite(moved) & np.isfinite(theirs) & (theirs > 0)
            diffs.append(np.abs(moved[ok] - theirs[ok]) / theirs[ok])
    return np.concatenate(diffs)


def run_scene(est: Any, views: list[tuple[np.ndarray, np.ndarray]], k: np.ndarray,
              poses: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Return each method's per-camera relative depth of one rig's images."""
    images = [rgb for rgb, _ in views]
    ks = [k] * len(images)
    ext = pose_tensor(poses)
    return {'single-view': [r.depth for r in est.estimate_batch(images, 'rgb8')],
           'any-view': [r.depth for r in est.estimate_views(images, 'rgb8')],
           'any-view + poses': [r.depth for r in est.estimate_views(images, 'rgb8', ks, ext)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='tiny setting (untrained:da3-tiny, 60x80, input 70, 2 scenes, 1 run)')
    p.add_argument('--checkpoint', default='untrained:da3-small',
                   help='an any-view checkpoint name or file (untrained:NAME: test weights)')
    p.add_argument('--cameras', type=int, default=3, choices=(2, 3))
    p.add_argument('--scenes', type=int, default=4)
    p.add_argument('--size', default='240x320', help='image HxW')
    p.add_argument('--input-size', type=int, default=504, help='longest network input side')
    p.add_argument('--baseline', type=float, default=0.15, help='metres between cameras')
    p.add_argument('--yaw', type=float, default=10.0, help='degrees each side camera turns in')
    p.add_argument('--runs', type=int, default=5, help='timed calls per method')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default='.', help='directory for bench_anyview.json')
    args = p.parse_args(argv)
    if args.quick:
        args.checkpoint, args.size, args.input_size = 'untrained:da3-tiny', '60x80', 70
        args.scenes, args.runs = min(args.scenes, 2), 1
    import torch

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.loading import load_model
    h, w = (int(v) for v in args.size.lower().split('x'))
    est = DepthEstimator(load_model(args.checkpoint, allow_untrained=True), device=args.device,
                         backend='torch', precision='fp32', input_size=args.input_size)
    if est.max_views < args.cameras:
        p.error(f'{args.checkpoint} takes {est.max_views} view(s) per pass: pick an any-view '
                'model (da3-small, da3-base, ...)')
    untrained = args.checkpoint.startswith('untrained')
    camera = synth.Camera.from_fov(w, h, synth.HFOV_DEG)
    k = camera.matrix()
    diffs = {(m, a): [] for m in METHODS for a in ('per camera', 'shared')}
    absrel = {(m, a): [] for m in METHODS for a in ('per camera', 'shared')}
    last: tuple[list[np.ndarray], list[np.ndarray]] | None = None
    for s in range(args.scenes):
        scene = synth.random_indoor_scene(np.random.default_rng([args.seed, s]))
        cams = rig(scene, args.cameras, args.baseline, args.yaw)
        views = [synth.render(view, camera) for view, _ in cams]
        poses = [pose for _, pose in cams]
        truths = [np.where(np.isfinite(d), d, np.nan) for _, d in views]
        rel = run_scene(est, views, k, poses)
        for m in METHODS:
            fits = [fit_inverse(d, t) for d, t in zip(rel[m], truths)]
            for how, chosen in (('per camera', fits), ('shared', [fits[0]] * len(fits))):
                aligned = [apply_fit(d, f) for d, f in zip(rel[m], chosen)]
                diffs[(m, how)].append(agreement(aligned, truths, k, poses))
                for a, t in zip(aligned, truths):
                    ok = np.isfinite(a) & np.isfinite(t)
                    absrel[(m, how)].append(float(np.mean(np.abs(a[ok] - t[ok]) / t[ok])))
        last = ([rgb for rgb, _ in views], poses)
    images, poses = last
    ext = pose_tensor(poses)
    calls = {'single-view': lambda: est.estimate_batch(images, 'rgb8'),
             'any-view': lambda: est.estimate_views(images, 'rgb8'),
             'any-view + poses': lambda: est.estimate_views(images, 'rgb8', [k] * len(images),
                                                            ext)}
    sync = torch.cuda.synchronize if est.device.type == 'cuda' else (lambda: None)
    cost = {m: latency_stats(timed_ms(calls[m], args.runs, warmup=1, sync=sync))
            for m in METHODS}
    rows = []
    for m in METHODS:
        for how in ('per camera', 'shared'):
            d = np.concatenate(diffs[(m, how)])
            rows.append({'method': m, 'alignment': how, 'pixels': int(d.size),
                         'median_rel_diff': float(np.median(d)) if d.size else math.nan,
                         'over_5pct': float(np.mean(d > AGREE_TOL)) if d.size else math.nan,
                         'absrel': float(np.mean(absrel[(m, how)])),
                         'ms_per_camera': cost[m]['median_ms'] / args.cameras})
    note = ('UNTRAINED weights: the agreement numbers show the pipeline runs (fidelity only); '
            'they say nothing of the model' if untrained else 'trained weights')
    print(f'# any-view agreement: {args.checkpoint}, {args.cameras} cameras {w}x{h}, input '
          f'{args.input_size}, {args.scenes} scenes, {est.device} -- {note}')
    print('| method | alignment | overlap pixels | median rel. diff | > 5 % apart | AbsRel '
          '| ms / camera |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['method']} | {r['alignment']} | {r['pixels']} | "
              f"{r['median_rel_diff']:.4f} | {100 * r['over_5pct']:.1f} % | {r['absrel']:.4f} "
              f"| {r['ms_per_camera']:.1f} |")
    report = {'checkpoint': args.checkpoint, 'fidelity_only': untrained, 'note': note,
              'cameras': args.cameras, 'size': [h, w], 'input_size': args.input_size,
              'scenes': args.scenes, 'baseline_m': args.baseline, 'yaw_deg': args.yaw,
              'results': rows, 'cost': cost, 'environment': environment()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'bench_anyview.json').write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
