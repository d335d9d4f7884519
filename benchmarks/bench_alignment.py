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

"""Metric alignment of relative depth on exact synthetic sequences (``alignment.py``).

    python benchmarks/bench_alignment.py [--quick] [--student CKPT] [--out out/bench]

A procedural room (``training/synth.py``) is filmed along a path with static and moving
stretches. The "network" is the exact disparity of each frame under an affine map that drifts
slowly, jitters per frame and steps by 20 % once (on a static stretch), plus 1 % pixel noise;
or, with ``--student``, a trained relative checkpoint run on the rendered RGB. Anchors:

* ``lidar``: a 64-beam scanner 8 cm above the camera (its own frame and ray casting; 2 cm range
  noise, 20 % outliers), projected with its extrinsic; ``lidar_unrelated`` feeds the scans of
  another room (every fit must be refused);
* ``sparse``: 25 random points per frame (10 cm noise, 10 % outliers);
* ``rgbd``: a holey, noisy 16-bit depth image at half resolution with its own intrinsics,
  resampled onto the network grid; the network's scale jitters 3 % per frame here;
* ``ground``: only the floor, from the camera's height, pitch and roll;
* ``metric_lidar``: a *metric* network 10 % too far (the true depth times 1.1, with the same
  1 % pixel noise) corrected by the ``lidar`` anchors (a scale only, ``fit_scale_points`` and
  ``AlignmentFilter(scale_only=True)``); its ``uncorrected`` row is the network as it is.

Per case: AbsRel of the aligned depth against the truth, the scale error (median aligned /
true depth ratio - 1), flicker (mean frame-to-frame relative change of the aligned noise-free
network output on static stretches: the change the alignment adds; pixel noise, the same with
or without a filter, is left out), frames to follow the 20 % step to within 2 %, refused fits;
per-frame fit vs ``AlignmentFilter``. Then the fit's cost on 640x480 frames (median, p90).
Prints tables and writes ``bench_alignment.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.core import alignment as al
from depth_anything_ros.offline.bench import environment, latency_stats, timed_ms
from depth_anything_ros.training import synth

FPS = 30.0
STEP = 1.2                 # the network's real scale step
WARMUP = 30                # frames the filter may take to settle: no flicker counted
# LiDAR 8 cm above the camera; its frame: x forward, y left, z up
LIDAR_TO_CAMERA = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, -0.08],
                            [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


# case -> the network's per-frame scale jitter (relative std)
CASES = {'lidar': 0.001, 'lidar_shuffled': 0.001, 'lidar_other_room': 0.001, 'sparse': 0.001,
         'rgbd': 0.03, 'ground': 0.001, 'metric_lidar': 0.001}
METRIC_ERROR = 1.1         # the metric network's scale error (metric_lidar)


@dataclass
class Frame:
    """One frame of the sequence: truth, camera pose, the affine of the network."""

    depth: np.ndarray          # true planar depth (H, W), inf = none
    rgb: np.ndarray
    scene: synth.Scene
    moving: bool
    a: float                   # network disparity = a / depth + c
    c: float


def make_sequence(num: int, size: tuple[int, int], seed: int, jitter: float, step_at: int, *,
                  pitch: float = -0.3, yaw: float = 0.1) -> tuple[list[Frame], synth.Camera]:
    rng = np.random.default_rng(seed)
    base = synth.random_indoor_scene(np.random.default_rng([seed, 7]))
    # look down a little so the floor fills the lower third (the ground case needs it)
    base.rotation = synth.camera_to_world(yaw, pitch, 0.01)
    cam = synth.Camera.from_fov(size[1], size[0], synth.HFOV_DEG)
    frames = []
    for i, (scene, moving) in enumerate(synth.camera_path(base, num, static=40, moving=30)):
        rgb, depth = synth.render(scene, cam)
        t = i / FPS
        a = 4.0 * math.exp(0.03 * math.sin(2 * math.pi * t / 10.0) + rng.normal(0, jitter))
        a *= STEP if i >= step_at else 1.0
        c = 0.4 * (1.0 + 0.03 * math.sin(2 * math.pi * t / 7.0)) + rng.normal(0, jitter * 0.4)
        frames.append(Frame(depth, rgb, scene, moving, a, c))
    return frames, cam


def lidar_scan(scene: synth.Scene, rng: np.random.Generator, *, beams: int = 64,
               columns: int = 1024, noise: float = 0.02, outliers: float = 0.2) -> np.ndarray:
    """Points (N, 3) in the LiDAR frame: 45 deg vertical FOV, the front 80 deg only."""
    elev = np.radians(np.linspace(-22.5, 22.5, beams))
    azim = np.radians(np.arange(columns) * 360.0 / columns - 180.0)
    azim = azim[np.abs(azim) < np.radians(40.0)]
    e, a = np.meshgrid(elev, azim, indexing='ij')
    dirs = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
    cam_from_lidar = LIDAR_TO_CAMERA[:3, :3]
    world = dirs @ cam_from_lidar.T @ scene.rotation.T          # lidar -> optical -> world
    origin = scene.origin + scene.rotation @ LIDAR_TO_CAMERA[:3, 3]
    rng_m, _ = synth.cast(scene, origin, world)
    ok = np.isfinite(rng_m)
    r = rng_m[ok] + rng.normal(0, noise, ok.sum())
    bad = rng.random(len(r)) < outliers
    r[bad] = rng.uniform(0.3, 12.0, bad.sum())
    return dirs[ok] * r[:, None]


def sparse_points(depth: np.ndarray, rng: np.random.Generator, n: int = 25, noise: float = 0.1,
                  outliers: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    h, w = depth.shape
    uv = np.stack([rng.integers(0, w, n), rng.integers(0, h, n)], -1).astype(np.float64)
    z = depth[uv[:, 1].astype(int), uv[:, 0].astype(int)].astype(np.float64)
    z = z + rng.normal(0, noise, n)
    bad = rng.random(n) < outliers
    z[bad] = rng.uniform(0.3, 10.0, bad.sum())
    return uv, z


def rgbd_anchor(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a half-resolution 16UC1-like depth image: 4 m range, holes, z^2 noise, mm steps."""
    d = depth[::2, ::2].astype(np.float64)
    d = d + rng.normal(0, 1.5e-3, d.shape) * d * d
    d = np.round(d * 1000.0) / 1000.0
    blobs = rng.random((d.shape[0] // 8 + 1, d.shape[1] // 8 + 1)) < 0.3
    holes = np.kron(blobs, np.ones((8, 8), bool))[:d.shape[0], :d.shape[1]]
    d[(d > 4.0) | holes | ~np.isfinite(d)] = np.nan
    return d.astype(np.float32)


def gravity_pose(scene: synth.Scene) -> tuple[float, float, float]:
    """Camera height, pitch and roll from the synthetic pose (floor at world y = 0)."""
    down = scene.rotation.T @ np.array([0.0, -1.0, 0.0])     # world down in the optical frame
    pitch, roll = al.pitch_roll_from_gravity(down)
    return float(scene.origin[1]), pitch, roll


def network_outputs(frames: list[Frame], rng: np.random.Generator, noise: float,
                    student: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return the noisy network outputs and their noise-free versions (for flicker)."""
    noisy, clean = [], []
    for f in frames:
        with np.errstate(divide='ignore'):
            inv = np.where(np.isfinite(f.depth), 1.0 / f.depth, np.nan)
        if student is None:
            base = f.a * inv + f.c
            noisy.append((base * (1.0 + rng.normal(0, noise, base.shape))).astype(np.float32))
        else:
            base = f.a * student(f.rgb) + f.c
            noisy.append(base.astype(np.float32))
        clean.append(base.astype(np.float32))
    return noisy, clean


def fit_case(case: str, frames: list[Frame], disp: list[np.ndarray], cam: synth.Camera,
             rng: np.random.Generator, other: list[Frame],
             options: al.FitOptions) -> list[al.Fit]:
    k = cam.matrix().astype(np.float64)
    shape = (cam.height, cam.width)
    fits = []
    for i, (f, d) in enumerate(zip(frames, disp)):
        if case in ('lidar', 'lidar_shuffled', 'lidar_other_room', 'metric_lidar'):
            src = other[i % len(other)] if case == 'lidar_other_room' else f
            uv, z = al.project_points(lidar_scan(src.scene, rng), k, shape, LIDAR_TO_CAMERA)
            if case == 'lidar_shuffled':
                z = rng.permutation(z)
            fit_points = al.fit_scale_points if case == 'metric_lidar' else \
                al.fit_inverse_depth_points
            fits.append(fit_points(d, uv, z, options=options))
        elif case == 'sparse':
            uv, z = sparse_points(f.depth, rng)
            fits.append(al.fit_inverse_depth_points(d, uv, z, options=options))
        elif case == 'rgbd':
            k_half = np.array([[k[0, 0] / 2, 0, k[0, 2] / 2], [0, k[1, 1] / 2, k[1, 2] / 2],
                               [0, 0, 1]])
            anchor = al.resample_depth(rgbd_anchor(f.depth, rng), k_half, k, shape)
            fits.append(al.fit_inverse_depth(d, anchor, options=options))
        elif case == 'ground':
            fits.append(al.fit_ground(d, k, *gravity_pose(f.scene), options=options))
        else:
            raise ValueError(case)
    return fits


def metric_outputs(frames: list[Frame], rng: np.random.Generator,
                   noise: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return a metric network's noisy depths (METRIC_ERROR too far) and noise-free ones."""
    noisy, clean = [], []
    for f in frames:
        base = np.where(np.isfinite(f.depth), METRIC_ERROR * f.depth, np.nan)
        noisy.append((base * (1.0 + rng.normal(0, noise, base.shape))).astype(np.float32))
        clean.append(base.astype(np.float32))
    return noisy, clean


def evaluate(frames: list[Frame], disp: list[np.ndarray], clean: list[np.ndarray],
             params: list[al.ScaleShift], step_at: int, metric: bool = False) -> dict[str, Any]:
    """Score the aligned depths (``metric``: ``disp`` are metric depths to correct)."""
    absrel, ratio, aligned_clean = [], [], []
    for f, d, dc, p in zip(frames, disp, clean, params):
        valid = np.isfinite(f.depth)
        if not p.valid:
            absrel.append(math.nan)
            ratio.append(math.nan)
            aligned_clean.append(None)
            continue
        est = p.correct(d) if metric else p.depth(d)
        ok = valid & np.isfinite(est)
        absrel.append(float(np.mean(np.abs(est[ok] - f.depth[ok]) / f.depth[ok])))
        ratio.append(float(np.median(est[ok] / f.depth[ok])))
        aligned_clean.append(p.correct(dc) if metric else p.depth(dc))
    flick = []
    for i in range(WARMUP + 1, len(frames)):
        if frames[i].moving or frames[i - 1].moving or i == step_at:
            continue
        a, b = aligned_clean[i - 1], aligned_clean[i]
        if a is None or b is None:
            continue
        z = frames[i].depth
        ok = np.isfinite(z) & np.isfinite(a) & np.isfinite(b)
        flick.append(float(np.mean(np.abs(b[ok] - a[ok]) / z[ok])))
    # frames after the step until the depth ratio stays within 2 % for 3 frames
    follow = math.nan
    r = np.asarray(ratio)
    for n in range(len(r) - step_at - 2):
        if np.all(np.abs(r[step_at + n:step_at + n + 3] - 1.0) < 0.02):
            follow = n
            break
    a = np.asarray(absrel)
    good = a[np.isfinite(a)]
    err = np.abs(r[np.isfinite(r)] - 1.0)
    return {
        'absrel_median': float(np.median(good)) if len(good) else math.nan,
        'absrel_p90': float(np.percentile(good, 90)) if len(good) else math.nan,
        'scale_err_median': float(np.median(err)) if len(err) else math.nan,
        'scale_err_p90': float(np.percentile(err, 90)) if len(err) else math.nan,
        'depth_ratio_median': float(np.median(r[np.isfinite(r)])) if len(err) else math.nan,
        'flicker': float(np.mean(flick)) if flick else math.nan,
        'step_frames': follow,
        'frames_without_depth': int(np.sum(~np.isfinite(a))),
    }


def run_case(case: str, frames: list[Frame], disp: list[np.ndarray], clean: list[np.ndarray],
             cam: synth.Camera, other: list[Frame], step_at: int, seed: int,
             filter_args: dict[str, float], options: al.FitOptions) -> dict[str, Any]:
    fits = fit_case(case, frames, disp, cam, np.random.default_rng([seed, 11]), other, options)
    per_frame = [al.ScaleShift(f.scale, f.shift) if f.ok else al.ScaleShift(math.nan, math.nan)
                 for f in fits]
    metric = case.startswith('metric')
    filt = al.AlignmentFilter(**filter_args, scale_only=metric)
    filtered = [filt.update(f, i / FPS) for i, f in enumerate(fits)]
    refused = [f.reason for f in fits if not f.ok]
    result = {'case': case, 'frames': len(fits), 'refused': len(refused),
              'refusal_example': refused[0] if refused else ''}
    if metric:   # the metric network as it is: no correction
        result['uncorrected'] = evaluate(frames, disp, clean, [al.ScaleShift(1.0, 0.0)] *
                                         len(fits), step_at, metric)
    result.update(per_frame=evaluate(frames, disp, clean, per_frame, step_at, metric),
                  filtered=evaluate(frames, disp, clean, filtered, step_at, metric),
                  filter_restarts=filt.restarts)
    return result


def timeit(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median and p90 milliseconds of ``fn`` (see depth_anything_ros.offline.bench)."""
    return latency_stats(timed_ms(fn, repeats))


def timing(repeats: int, seed: int) -> dict[str, dict[str, float]]:
    """Time the fit per 640x480 frame for each anchor kind (anchor preparation apart)."""
    rng = np.random.default_rng(seed)
    frames, cam = make_sequence(1, (480, 640), seed, 0.003, 10)
    f = frames[0]
    k = cam.matrix().astype(np.float64)
    shape = (480, 640)
    d = (f.a / f.depth + f.c).astype(np.float32)
    scan = lidar_scan(f.scene, rng)
    uv, z = al.project_points(scan, k, shape, LIDAR_TO_CAMERA)
    suv, sz = sparse_points(f.depth, rng)
    k_half = np.array([[k[0, 0] / 2, 0, k[0, 2] / 2], [0, k[1, 1] / 2, k[1, 2] / 2], [0, 0, 1]])
    half = rgbd_anchor(f.depth, rng)
    dense = al.resample_depth(half, k_half, k, shape)
    pose = gravity_pose(f.scene)
    filt = al.AlignmentFilter()
    fit = al.fit_inverse_depth(d, dense)
    clock = iter(range(10 ** 9))
    return {
        f'fit lidar points ({len(z)})': timeit(
            lambda: al.fit_inverse_depth_points(d, uv, z), repeats),
        'fit 25 points': timeit(lambda: al.fit_inverse_depth_points(d, suv, sz), repeats),
        'fit dense anchor image': timeit(lambda: al.fit_inverse_depth(d, dense), repeats),
        'fit ground (plane + rule + fit)': timeit(lambda: al.fit_ground(d, k, *pose), repeats),
        'filter update': timeit(lambda: filt.update(fit, next(clock) / FPS), repeats),
        'prep: project lidar scan': timeit(
            lambda: al.project_points(scan, k, shape, LIDAR_TO_CAMERA), repeats),
        'prep: resample 320x240 depth image': timeit(
            lambda: al.resample_depth(half, k_half, k, shape), repeats),
    }


def load_student(path: str, input_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``rgb -> disparity`` of a relative checkpoint on the CPU (one thread), cached."""
    import torch

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    torch.set_num_threads(1)
    est = DepthEstimator(load_model(path, head='relative'), device='cpu', input_size=input_size)
    if est.is_metric:
        raise SystemExit(f'{path} is a metric model; --student needs a relative one')
    cache: dict[bytes, np.ndarray] = {}

    def predict(rgb: np.ndarray) -> np.ndarray:
        key = rgb.tobytes()
        if key not in cache:
            cache[key] = est.infer(rgb, 'rgb8')
        return cache[key]
    return predict


def fmt(v: float, pct: bool = True) -> str:
    if isinstance(v, float) and math.isnan(v):
        return '-'
    return f'{100 * v:.2f}%' if pct else f'{v:g}'


def format_table(results: list[dict[str, Any]]) -> str:
    head = ('| case | mode | AbsRel med / p90 | scale err med / p90 | depth ratio | flicker '
            '| step frames | no depth |')
    lines = [head, '|' + '---|' * 8]
    for r in results:
        for mode in ('uncorrected', 'per_frame', 'filtered'):
            if mode not in r:
                continue
            m = r[mode]
            lines.append(
                f"| {r['case']} | {mode.replace('_', '-')} | {fmt(m['absrel_median'])} / "
                f"{fmt(m['absrel_p90'])} | {fmt(m['scale_err_median'])} / "
                f"{fmt(m['scale_err_p90'])} | {m['depth_ratio_median']:.4f} | "
                f"{fmt(m['flicker'])} | {fmt(m['step_frames'], False)} | "
                f"{m['frames_without_depth']}/{r['frames']} |")
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='short sequence, few repeats')
    parser.add_argument('--frames', type=int, default=180)
    parser.add_argument('--size', default='240x320', help='HxW of the sequence')
    parser.add_argument('--noise', type=float, default=0.01, help='network pixel noise')
    parser.add_argument('--seed', type=int, default=3)
    parser.add_argument('--student', help='a relative checkpoint to use as the network')
    parser.add_argument('--input-size', type=int, default=266)
    parser.add_argument('--time-constant', type=float, default=2.0,
                        help='AlignmentFilter time_constant_s')
    parser.add_argument('--drift', type=float, default=None,
                        help='AlignmentFilter drift_per_sqrt_s (default: its own)')
    parser.add_argument('--max-residual', type=float, default=al.FitOptions.max_residual,
                        help='FitOptions.max_residual (raise it for a weak network)')
    parser.add_argument('--cases', default=','.join(CASES), help='comma-separated subset')
    parser.add_argument('--no-timing', action='store_true', help='skip the cost table')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    num = 100 if args.quick else args.frames
    size = tuple(int(v) for v in args.size.split('x'))
    if args.quick:
        size = (size[0] // 2, size[1] // 2)
    step_at = num * 2 // 3 if not args.quick else 90
    student = load_student(args.student, args.input_size) if args.student else None
    options = al.FitOptions(max_residual=args.max_residual)
    filter_args = {'time_constant_s': args.time_constant}
    if args.drift is not None:
        filter_args['drift_per_sqrt_s'] = args.drift
    results = []
    seqs: dict[float, tuple[list[Frame], synth.Camera]] = {}
    other, _ = make_sequence(5, size, args.seed + 100, 0.001, 10 ** 6, pitch=0.05, yaw=1.6)
    for case in args.cases.split(','):
        jitter = CASES[case]
        if jitter not in seqs:
            seqs[jitter] = make_sequence(num, size, args.seed, jitter, step_at)
        frames, cam = seqs[jitter]
        rng = np.random.default_rng([args.seed, 5])
        if case.startswith('metric'):
            disp, clean = metric_outputs(frames, rng, args.noise)
        else:
            disp, clean = network_outputs(frames, rng, args.noise, student)
        r = run_case(case, frames, disp, clean, cam, other, step_at, args.seed, filter_args,
                     options)
        r['network_jitter'] = jitter
        results.append(r)
        print(f"{case}: {r['refused']}/{r['frames']} refused "
              f"{('(' + r['refusal_example'] + ')') if r['refused'] else ''}", flush=True)
    table = format_table(results)
    cost = {} if args.no_timing else timing(20 if args.quick else 200, args.seed)
    cost_lines = ['| 640x480 frame | median ms | p90 ms |', '|---|---|---|'] + [
        f"| {name} | {v['median_ms']:.2f} | {v['p90_ms']:.2f} |" for name, v in cost.items()]
    print(table)
    print()
    print('\n'.join(cost_lines))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {'network': args.student or 'exact disparity', 'noise': args.noise,
              'filter': filter_args, 'max_residual': args.max_residual,
              'frames': num, 'size': size, 'step_at': step_at, 'step': STEP,
              'results': results, 'cost_640x480': cost, 'environment': environment()}
    path = args.out / 'bench_alignment.json'
    path.write_text(json.dumps(report, indent=1))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
