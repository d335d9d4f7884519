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

"""``depth-anything-ros download NAME``: fetch a published checkpoint (see models/hub.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from depth_anything_ros.errors import InvalidInputError, one_line
from depth_anything_ros.models.hub import DEFAULT_WEIGHTS_DIR, download, WEIGHTS_ENV
from depth_anything_ros.models.registry import Checkpoint, checkpoints


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``NAME [--weights-dir DIR] [--list]``."""
    parser.add_argument('name', nargs='?', help='model name, e.g. vits, metric_indoor_vitl, '
                        'da3-small (see --list)')
    parser.add_argument('--weights-dir', default=None,
                        help=f'target directory (default ${WEIGHTS_ENV} or '
                             f'{DEFAULT_WEIGHTS_DIR})')
    parser.add_argument('--list', action='store_true', help='list known names and exit')


def _also(info: Checkpoint) -> str:
    """Return what else a checkpoint's network gives or needs, in words (``-``: nothing)."""
    words = [w for w, on in (('confidence', info.confidence), ('sky', info.sky),
                             ('needs fx/fy', info.needs_intrinsics),
                             ('needs a prompt', info.needs_prompt),
                             ('any-view', info.max_views > 1)) if on]
    return ', '.join(words) or '-'


def _unpublished(info: Checkpoint) -> str:
    """Return the repository column of a checkpoint without one."""
    return f'(bundled: {info.note})' if info.bundled else '(not published)'


def main(args: argparse.Namespace) -> int:
    """List the known names, or download one and print where it went."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    if args.list or not args.name:
        print(f'{"name":<22} {"family":<7} {"output":<9} {"also":<26} {"file":<45} '
              f'{"licence":<13} repository')
        rows = [(name, fam.name, info) for fam, info in checkpoints()
                for name in (info.name, *info.aliases)]
        for name, fam, info in sorted(rows, key=lambda r: r[0]):
            print(f'{name:<22} {fam:<7} {info.output:<9} {_also(info):<26} '
                  f'{info.local_name:<45} {info.licence:<13} '
                  f'{info.repo or _unpublished(info)}')
        if args.list:
            return 0
        raise InvalidInputError('name the checkpoint to download (one of the list above)')
    try:
        path = download(args.name, args.weights_dir)
    except RuntimeError as exc:   # not published, no huggingface_hub, or the download failed
        print(f'depth-anything-ros download: error: {one_line(exc)}', file=sys.stderr)
        return 1
    print(path)
    return 0
