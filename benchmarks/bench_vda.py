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

"""Video Depth Anything's streaming mode on the synthetic trajectories of bench_temporal.py.

    python benchmarks/bench_vda.py [--quick] [--checkpoint untrained:vda-small] [--scenes 3]
        [--frames 90] [--size 240x320] [--input-size 518] [--device auto]

The network (default: ``untrained:vda-small``, deterministic weights: the numbers then show
the machinery and its cost, not Video Depth Anything's accuracy; pass ``vda-small`` for the
published weights) runs each scene of ``training/sequences.py`` twice: ``vda per-frame``
(each frame alone, no history) and ``vda stream`` (the frames in order through one stream,
the official streaming mode). Its affine-invariant disparity is put in metres frame by frame
as bench_temporal's ``per-frame`` mode does (the same 200 anchors per frame, the same fit),
and scored the same way: TAE and flicker over consecutive frames (static points), AbsRel,
AbsRel on the rolling ball, frames without depth (the fit refused), and ms per frame of the
network (median), plus the stream's cached features in MB at the end of a scene.
Prints the table and writes ``bench_vda.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Any

import numpy as np

from depth_anything_ros.core import alignment as al
from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.offline.bench import environment
from depth_anything_ros.training import sequences
from depth_anything_ros.training.metrics import TemporalAccumulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_alignment import sparse_points  # noqa: E402  (the same anchors as bench_temporal)
from bench_temporal import fmt, summarise  # noqa: E402

MODES = ('vda per-frame', 'vda stream')


def run_scene(est: DepthEstimator, frames: list[sequences.SequenceFrame], intr: Intrinsics,
              args: argparse.Namespace, accs: dict[str, TemporalAccumulator],
              stats: dict[str, dict[str, list[float]]], name: str) -> dict[str, Any]:
    """Run both modes over one sequence; add to the accumulators and stats."""
    stream = est.new_stream()
    for mode in MODES:
        rng = np.random.default_rng([args.seed, 7])   # the same anchors for both modes
        for f in frames:
            t0 = time.perf_counter()
            disp = est.infer(f.rgb, 'rgb8') if mode == 'vda per-frame' else \
                est.estimate(f.rgb, 'rgb8', stream=stream).depth
            ms = 1e3 * (time.perf_counter() - t0)
            uv, z = sparse_points(f.depth, rng, n=args.anchors, noise=args.anchor_noise)
            fit = al.fit_inverse_depth_points(disp, uv, z)
            s = stats[mode]
            s['ms'].append(ms)
            if not fit.ok:
                s['no_depth'].append(1.0)
                continue
            s['no_depth'].append(0.0)
            est_depth = fit.depth(disp)
            valid = np.isfinite(f.depth)
            ok = valid & np.isfinite(est_depth)
            s['absrel'].append(float(np.mean(np.abs(est_depth[ok] - f.depth[ok]) / f.depth[ok])))
            ball = ok & f.moving
            if ball.sum() >= 20:
                s['ball_absrel'].append(
                    float(np.mean(np.abs(est_depth[ball] - f.depth[ball]) / f.depth[ball])))
            accs[mode].add(name, est_depth, np.where(valid, f.depth, np.nan), intr, f.pose,
                           ~f.moving)
    return {'stream_frames': stream.frames, 'stream_mb': stream.nbytes / 2 ** 20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='one short small sequence, vda-tiny at input 70')
    parser.add_argument('--checkpoint', default='untrained:vda-small')
    parser.add_argument('--scenes', type=int, default=3)
    parser.add_argument('--frames', type=int, default=90)
    parser.add_argument('--size', default='240x320', help='HxW of the sequences')
    parser.add_argument('--input-size', type=int, default=518)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--precision', default='fp32')
    parser.add_argument('--anchors', type=int, default=200, help='range points per frame')
    parser.add_argument('--anchor-noise', type=float, default=0.05, help='their noise, metres')
    parser.add_argument('--seed', type=int, default=3)
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split('x'))
    scenes, num = (1, 14) if args.quick else (args.scenes, args.frames)
    checkpoint, input_size = args.checkpoint, args.input_size
    if args.quick:
        size, checkpoint, input_size = (size[0] // 4, size[1] // 4), 'untrained:vda-tiny', 70
    est = DepthEstimator.from_config(checkpoint, allow_untrained=True, device=args.device,
                                     backend='torch', precision=args.precision,
                                     input_size=input_size)
    if not est.stateful:
        raise SystemExit(f'{checkpoint} keeps no state between frames: pass a Video Depth '
                         'Anything checkpoint')
    accs = {m: TemporalAccumulator() for m in MODES}
    stats = {m: {'absrel': [], 'ball_absrel': [], 'ms': [], 'no_depth': []} for m in MODES}
    per_scene = []
    for k in range(scenes):
        frames, cam = sequences.render_sequence('indoor', k, args.seed, num, size)
        intr = Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
        per_scene.append(run_scene(est, frames, intr, args, accs, stats, f's{k}'))
        print(f'scene {k}: {per_scene[-1]}', flush=True)
    rows = summarise(accs, stats)
    untrained = checkpoint.startswith('untrained')
    note = ' (deterministic weights: fidelity only)' if untrained else ''
    lines = [f'| mode{note} | TAE | flicker | AbsRel | AbsRel on the ball | '
             f'network ms/frame ({size[0]}x{size[1]}) | no depth |',
             '|---|---|---|---|---|---|---|']
    for m, r in rows.items():
        lines.append(f"| {m} | {fmt(r['tae'])} | {fmt(r['flicker'])} | {fmt(r['absrel'])} | "
                     f"{fmt(r['ball_absrel'])} | {r['ms_per_frame']:.1f} | "
                     f"{r['frames_without_depth']}/{r['frames']} |")
    print('\n'.join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {'checkpoint': checkpoint, 'deterministic_weights': untrained,
              'estimator': repr(est), 'scenes': scenes, 'frames': num, 'size': size,
              'seed': args.seed, 'anchors': args.anchors, 'anchor_noise': args.anchor_noise,
              'rows': rows, 'per_scene': per_scene, 'environment': environment()}
    path = args.out / 'bench_vda.json'
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
