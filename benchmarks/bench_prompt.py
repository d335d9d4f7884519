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

"""Prompts for Prompt Depth Anything from sparse anchors: densified or not (core/prompt.py).

    python benchmarks/bench_prompt.py [--tiny] [--checkpoint FOLDER] [--json out.json]

Procedural rooms (``training/synth.py``) give exact depth. Anchors at several sparsities are
turned into the network's prompt as the node does it (projected onto the prompt grid, the
longest side 256 px, then densified by each method of ``prompt.DENSIFY``):

* ``lidar64`` ... ``lidar8``: a spinning LiDAR 8 cm above the camera with that many beams
  (benchmarks/bench_alignment.py's scanner, 2 cm range noise, no outliers): vehicle-LiDAR
  sparsity, a few rows of points across the image;
* ``random10%`` ... ``random0.2%``: that fraction of the prompt cells measured at random
  (a ToF or stereo with holes), 1 % range noise.

Per row: ``coverage`` (measured prompt cells), ``prompt_absrel`` (AbsRel against the truth of
the prompt as the network's decoder reads it: resized bilinearly to the frame, every pixel),
``min_error`` (the prompt's minimum, by which the network normalises it, against the true
minimum, relative). With ``--checkpoint`` (a Prompt Depth Anything folder: real weights, on a
quiet host) also the network's own AbsRel with each prompt (``net_absrel``). No timings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_anything_ros.core import prompt as pr
from depth_anything_ros.training import synth

LIDAR_TO_CAMERA = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, -0.08],
                            [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def lidar_points(scene: synth.Scene, beams: int, rng: np.random.Generator,
                 columns: int = 1024) -> np.ndarray:
    """Points (N, 3) in the LiDAR frame: 45 deg vertical field of view, the front 80 deg."""
    from bench_alignment import lidar_scan  # the alignment benchmark's scanner
    return lidar_scan(scene, rng, beams=beams, columns=columns, outliers=0.0)


def random_points(depth: np.ndarray, k: np.ndarray, fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Points (N, 3) in the optical frame at ``fraction`` of the pixels (1 % range noise)."""
    h, w = depth.shape
    grid = pr.prompt_shape(h, w)
    n = max(1, int(round(fraction * grid[0] * grid[1])))
    u, v = rng.uniform(-0.5, w - 0.5, n), rng.uniform(-0.5, h - 0.5, n)
    z = depth[np.rint(v).astype(int), np.rint(u).astype(int)]
    ok = np.isfinite(z)
    z = z[ok] * (1.0 + rng.normal(0, 0.01, ok.sum()))
    rays = np.linalg.solve(k, np.stack([u[ok], v[ok], np.ones(ok.sum())]))
    return (rays * z).T


def score(prompt: np.ndarray, depth: np.ndarray) -> tuple[float, float]:
    """AbsRel of the prompt read at the frame size, and its minimum's relative error."""
    h, w = depth.shape
    seen = cv2.resize(prompt, (w, h), interpolation=cv2.INTER_LINEAR)
    ok = np.isfinite(depth) & (depth > 0)
    absrel = float(np.mean(np.abs(seen[ok] - depth[ok]) / depth[ok]))
    true_min = float(depth[ok].min())
    return absrel, float(abs(prompt.min() - true_min) / true_min)


def network_absrel(est: Any, rgb: np.ndarray, prompt: np.ndarray, depth: np.ndarray) -> float:
    (result,) = est.estimate_batch([rgb], 'rgb8', prompts=[prompt])
    ok = np.isfinite(depth) & (depth > 0) & np.isfinite(result.depth)
    return float(np.mean(np.abs(result.depth[ok] - depth[ok]) / depth[ok]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tiny', action='store_true', help='2 small rooms (a CI check)')
    parser.add_argument('--checkpoint', help='a Prompt Depth Anything folder: net_absrel too')
    parser.add_argument('--json', type=Path, default=Path('bench_prompt.json'))
    args = parser.parse_args(argv)
    size, rooms = ((120, 160), 2) if args.tiny else ((480, 640), 10)
    est = None
    if args.checkpoint:
        from depth_anything_ros.estimator import DepthEstimator
        from depth_anything_ros.model import load_model
        est = DepthEstimator(load_model(args.checkpoint), device='auto', backend='torch',
                             precision='fp32')
    cam = synth.Camera.from_fov(size[1], size[0], synth.HFOV_DEG)
    k = cam.matrix()
    sources = [(f'lidar{b}', 'lidar', b) for b in (64, 32, 16, 8)] + \
        [(f'random{f * 100:g}%', 'random', f) for f in (0.1, 0.01, 0.002)]
    rows: list[dict[str, Any]] = []
    for room in range(rooms):
        rng = np.random.default_rng(room)
        scene = synth.random_indoor_scene(np.random.default_rng([room, 7]))
        scene.rotation = synth.camera_to_world(0.1, -0.3, 0.01)
        rgb, depth = synth.render(scene, cam)
        depth = np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)
        grid = pr.prompt_shape(*size)
        for name, kind, amount in sources:
            if kind == 'lidar':
                sparse = pr.points_prompt(lidar_points(scene, amount, rng), k, size, grid,
                                          LIDAR_TO_CAMERA)
            else:
                sparse = pr.points_prompt(random_points(depth, k, amount, rng), k, size, grid)
            if not (sparse > 0).any():
                continue
            for method in pr.DENSIFY:
                prompt = pr.densify(sparse, method)
                absrel, min_error = score(prompt, depth)
                row = {'room': room, 'sparsity': name, 'densify': method,
                       'coverage': float(np.mean(sparse > 0)), 'prompt_absrel': absrel,
                       'min_error': min_error}
                if est is not None:
                    row['net_absrel'] = network_absrel(est, rgb, prompt, depth)
                rows.append(row)
    table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        table.setdefault((row['sparsity'], row['densify']), []).append(row)
    keys = ['coverage', 'prompt_absrel', 'min_error'] + (['net_absrel'] if est else [])
    print(f'{"sparsity":<12} {"densify":<8} ' + ' '.join(f'{c:>13}' for c in keys))
    for (name, method), group in table.items():
        print(f'{name:<12} {method:<8} ' + ' '.join(
            f'{np.mean([r[c] for r in group]):13.4f}' for c in keys))
    args.json.write_text(json.dumps({'size': size, 'rooms': rooms, 'rows': rows}, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
