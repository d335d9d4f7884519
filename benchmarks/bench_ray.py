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

"""Pseudo-labelling throughput on Ray (``--engine ray``) against one process.

    python benchmarks/bench_ray.py [--frames 96] [--size 240x320] [--input-size 266]
                                   [--workers 1,2] [--out out/bench]

A synthetic set (``training/synth.py``) is labelled by a ViT-S teacher (deterministic weights)
three ways: in this process (``label_frames``), and on a local Ray of ``--cpus`` CPUs with 1
and 2 model actors (``label_frames_ray``). Per run: frames/s over the whole run (start-up of
the actors included, as a user sees it) and over the pipeline alone; per stage (decode, infer,
write) the busy seconds per frame and the idle time of its workers (workers x wall - busy).
The per-frame costs give the paper estimate of labelling 1 M frames on N GPUs printed at the
end. Prints a table and writes ``bench_ray.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
import tempfile
import time
from typing import Any

from depth_anything_ros.commands.args import ModelFlags
from depth_anything_ros.commands.pseudo_label import make_teacher
from depth_anything_ros.offline.bench import environment
from depth_anything_ros.offline.ray_engine import label_frames_ray, RayOptions, STAGES
from depth_anything_ros.training.pseudo_label import label_frames
from depth_anything_ros.training.synth import generate


def _size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split('x'))
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=96)
    parser.add_argument('--size', type=_size, default=(240, 320), help='HxW of the frames')
    parser.add_argument('--input-size', type=int, default=266)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--workers', default='1,2', help='comma list of model actor counts')
    parser.add_argument('--cpus', type=int, default=2, help='CPUs of the local Ray')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()

    import ray
    flags = ModelFlags('untrained:vits', encoder='vits', allow_untrained=True)
    factory = functools.partial(make_teacher, flags, 'cpu', 'fp32', args.input_size, False)
    meta = {'teacher': 'untrained:vits', 'input_size': args.input_size, 'tta_flip': False}
    results: dict[str, Any] = {'environment': environment(), 'frames': args.frames,
                               'size': list(args.size), 'input_size': args.input_size,
                               'batch_size': args.batch_size, 'runs': {}}
    with tempfile.TemporaryDirectory(prefix='bench_ray') as tmp:
        src = generate(Path(tmp) / 'synth', 'indoor', args.frames, seed=0, size=args.size,
                       progress=False) / 'rgb'
        t0 = time.perf_counter()
        one = label_frames(src, factory(), Path(tmp) / 'one', meta=meta,
                           batch_size=args.batch_size, progress=False)
        wall = time.perf_counter() - t0
        results['runs']['one process'] = {'frames_per_s': one.written / wall, 'wall_s': wall}
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level='WARNING',
                 log_to_driver=False, _temp_dir=tempfile.mkdtemp(prefix='ray', dir='/tmp'))
        try:
            for n in (int(v) for v in args.workers.split(',')):
                t0 = time.perf_counter()
                res = label_frames_ray(src, factory, Path(tmp) / f'ray{n}',
                                       RayOptions(num_workers=n, batch_size=args.batch_size),
                                       meta=meta)
                wall = time.perf_counter() - t0
                times = res.times
                results['runs'][f'ray, {n} worker(s)'] = {
                    'frames_per_s': res.written / wall, 'wall_s': wall,
                    'pipeline_frames_per_s': res.written / times.wall,
                    'pipeline_wall_s': times.wall,
                    'per_frame_ms': {s: 1e3 * times.busy[s] / res.written for s in STAGES},
                    'idle_s': {s: times.idle(s) for s in STAGES},
                    'workers': dict(times.workers)}
        finally:
            ray.shutdown()
    _print(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'bench_ray.json').write_text(json.dumps(results, indent=2) + '\n')


def _print(results: dict[str, Any]) -> None:
    print(f'{results["frames"]} frames {results["size"][0]}x{results["size"][1]}, ViT-S at '
          f'{results["input_size"]}, batch {results["batch_size"]}')
    print(f'{"run":<20}{"frames/s":>10}{"pipeline":>10}' +
          ''.join(f'{s + " ms/f":>14}{s + " idle s":>14}' for s in STAGES))
    for name, r in results['runs'].items():
        line = f'{name:<20}{r["frames_per_s"]:>10.2f}'
        if 'per_frame_ms' in r:
            line += f'{r["pipeline_frames_per_s"]:>10.2f}' + ''.join(
                f'{r["per_frame_ms"][s]:>14.1f}{r["idle_s"][s]:>14.1f}' for s in STAGES)
        print(line)
    ray_runs = [r for r in results['runs'].values() if 'per_frame_ms' in r]
    if ray_runs:
        ms = ray_runs[0]['per_frame_ms']
        print(f'paper estimate, 1 M frames: decode {ms["decode"] * 1e3 / 3600:.1f} CPU-hours, '
              f'write {ms["write"] * 1e3 / 3600:.1f} CPU-hours, inference '
              f'{ms["infer"] * 1e3 / 3600:.1f} hours of one such worker (divide by N workers)')


if __name__ == '__main__':
    main()
