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

"""Distil a tiny relative student on procedural rooms, as a stand-in network for benchmarks.

    python tools/train_synth_student.py --out out/student [--frames 200] [--steps 300]

Renders indoor rooms (``training/synth.py``), labels them with an oracle teacher that knows each
frame's true disparity, and runs ``depth-anything-ros distill`` (``distill_debug``: a tiny
student from scratch, 56 px crops) for ``--steps`` steps on the CPU. Prints the exported
checkpoint; ``benchmarks/bench_alignment.py --student`` takes it. The student is weak (minutes
of training on a few hundred frames): its errors are those of a real network, spatially
correlated, not the benchmark's i.i.d. noise, which is what it is for.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np

from depth_anything_ros.commands import cli
from depth_anything_ros.training.pseudo_label import label_frames
from depth_anything_ros.training.synth import render_sample


class Oracle:
    """Teacher returning the true disparity (1 / depth) of the frames it was given."""

    def __init__(self, frames: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.table = {self.key(bgr): np.where(np.isfinite(depth), 1.0 / depth, 0.0)
                      .astype(np.float32) for bgr, depth in frames}

    @staticmethod
    def key(img: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self.table[self.key(im)] for im in images]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--size', default='120x160', help='HxW of the rendered frames')
    parser.add_argument('--seed', type=int, default=50, help='scene seed (not the benchmark)')
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split('x'))
    images = args.out / 'images'
    images.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(args.frames):
        rgb, depth, _ = render_sample('indoor', i, args.seed, size)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(images / f'{i:05d}.png'), bgr)
        frames.append((bgr, depth))
    label_frames(images, Oracle(frames), args.out / 'labels', meta={'teacher': 'oracle'},
                 progress=False)
    run = args.out / 'run'
    code = cli.main(['distill', '--config', 'distill_debug', '--labels', str(args.out / 'labels'),
                     '--out', str(run), '--no-progress', f'max_steps={args.steps}',
                     f'save_every={args.steps}'])
    print(f'student: {run / "export" / "model.pth"}')
    return code


if __name__ == '__main__':
    raise SystemExit(main())
