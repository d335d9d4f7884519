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

"""``depth-anything-ros infer``: depth for image files, written as .npy (float32) + colour PNG.

Example::

    depth-anything-ros infer --checkpoint vits photos/*.jpg --out depth_out
    depth-anything-ros infer --checkpoint metric_indoor_vits --exact room.png --out out

Relative models write disparity (larger = nearer, arbitrary scale); metric models write metres.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from depth_anything_ros.commands.args import (
    add_model_arguments,
    add_runtime_arguments,
    build_estimator_from_args,
)
from depth_anything_ros.errors import MissingInputError, user_errors
from depth_anything_ros.params import spec
from depth_anything_ros.training.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('images', nargs='+', type=Path,
                        help='image files or directories of images')
    parser.add_argument('--out', type=Path, required=True, help='output directory')
    add_model_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument('--colormap', default=spec('colormap').default,
                        choices=spec('colormap').choices, help='colour map of the PNG')


def collect_images(paths: list[Path]) -> list[Path]:
    """Expand directories into their image files (sorted); keep files as given.

    Raises:
        MissingInputError: a path does not exist (checked before any model is loaded).

    """
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise MissingInputError(f'{p} does not exist; give image files or folders of '
                                    'images')
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(p)
    return files


def _colorize(depth: np.ndarray, metric: bool, colormap: str) -> np.ndarray:
    from depth_anything_ros.core.colorize import colorize
    bgr, _ = colorize(depth, colormap, near_is_high=not metric)
    return bgr


def main(args: argparse.Namespace) -> int:
    """Run the command; returns 0 when every image was processed."""
    import cv2
    from tqdm import tqdm

    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    files = collect_images(args.images)
    if not files:
        raise MissingInputError(f'no images found in {", ".join(map(str, args.images))}; give '
                                'image files or folders that hold some')
    with user_errors(FileNotFoundError, ValueError):
        est = build_estimator_from_args(args)
    unit = 'm' if est.is_metric else '(disparity)'
    log.info('%r (%s)', est, est.choice.reason)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    used: set[str] = set()
    for path in tqdm(files, desc='infer', unit='img'):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f'{path}: cannot read (missing or not an image); skipped')
            failed += 1
            continue
        depth = est.infer(image, 'bgr8')
        stem = path.stem
        while stem in used:  # same name in two directories
            stem += '_'
        used.add(stem)
        np.save(args.out / f'{stem}.npy', depth)
        cv2.imwrite(str(args.out / f'{stem}.png'), _colorize(depth, est.is_metric, args.colormap))
        t = est.last_timings
        print(f'{path}: {depth.shape[1]}x{depth.shape[0]} min {depth.min():.3f} median '
              f'{np.median(depth):.3f} max {depth.max():.3f} {unit}; '
              f'{sum(t.values()):.0f} ms (forward {t["forward_ms"]:.0f}) -> '
              f'{args.out / stem}.npy/.png')
    print(f'{len(files) - failed}/{len(files)} images written to {args.out}')
    return 1 if failed else 0
