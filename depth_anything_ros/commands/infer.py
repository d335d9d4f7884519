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

Relative models write disparity (larger = nearer) or relative depth (larger = farther), both
of arbitrary scale; metric models write metres. Sky pixels (models with a sky output) are NaN.
A model with a per-pixel confidence also writes it, as ``<name>_confidence.npy``. A model that
gives metres only with the camera's focal length needs ``--fx`` (and ``--fy``) in pixels of
the images, e.g.::

    depth-anything-ros infer --checkpoint da3metric-large --fx 525 --fy 525 room.png --out out
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from depth_anything_ros.commands import args as flags
from depth_anything_ros.errors import InvalidInputError, MissingInputError, user_errors
from depth_anything_ros.params import spec
from depth_anything_ros.training.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('images', nargs='+', type=Path,
                        help='image files or directories of images')
    parser.add_argument('--out', type=Path, required=True, help='output directory')
    flags.add_model_arguments(parser)
    flags.add_sampling_arguments(parser)
    flags.add_runtime_arguments(parser, family_size=True)
    flags.add_intrinsics_arguments(parser)
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


def _colorize(depth: np.ndarray, output: str, colormap: str) -> np.ndarray:
    from depth_anything_ros.core.colorize import colorize
    bgr, _ = colorize(depth, colormap, near_is_high=output == 'disparity')
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
        focal = flags.intrinsics_from_args(args)
        est = flags.build_estimator_from_args(args)
    if est.needs_intrinsics and focal is None:
        raise InvalidInputError(f"{est.config.encoder} gives metres only with the camera's "
                                'focal length; pass --fx (and --fy) in pixels of the images')
    from depth_anything_ros.core.model_outputs import mask_invalid
    from depth_anything_ros.models.loading import describe_licence
    unit = {'metric': 'm', 'depth': '(relative depth)'}.get(est.output, '(disparity)')
    log.info('%r (%s)', est, est.choice.reason)
    print(f'weights licence: {describe_licence(est.licence)}')
    if est.note:
        print(f'NOTE: these weights are {est.note}')
    args.out.mkdir(parents=True, exist_ok=True)
    stream = None
    if est.stateful:   # a video network: the images are one camera's frames, in order
        stream = est.new_stream()
        print(f'{len(files)} images run in order as frames of one video (the network keeps '
              'state between frames)')
    failed = 0
    used: set[str] = set()
    for path in tqdm(files, desc='infer', unit='img'):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f'{path}: cannot read (missing or not an image); skipped')
            failed += 1
            continue
        result = est.estimate(image, 'bgr8', focal, stream=stream)
        depth = mask_invalid(result.depth, sky=result.sky)   # sky: NaN, never a far wall
        stem = path.stem
        while stem in used:  # same name in two directories
            stem += '_'
        used.add(stem)
        np.save(args.out / f'{stem}.npy', depth)
        if result.confidence is not None:
            np.save(args.out / f'{stem}_confidence.npy', result.confidence)
        cv2.imwrite(str(args.out / f'{stem}.png'), _colorize(depth, est.output, args.colormap))
        t = est.last_timings
        finite = depth[np.isfinite(depth)]
        stats = (f'min {finite.min():.3f} median {np.median(finite):.3f} max {finite.max():.3f}'
                 if finite.size else 'no valid pixel')
        print(f'{path}: {depth.shape[1]}x{depth.shape[0]} {stats} {unit}; '
              f'{sum(t.values()):.0f} ms (forward {t["forward_ms"]:.0f}) -> '
              f'{args.out / stem}.npy/.png')
    print(f'{len(files) - failed}/{len(files)} images written to {args.out}')
    return 1 if failed else 0
