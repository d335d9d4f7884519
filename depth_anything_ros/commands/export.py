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

"""``depth-anything-ros export``: checkpoint -> ONNX or OpenVINO IR (static or dynamic H/W).

Examples::

    depth-anything-ros export --checkpoint vits --dynamic --out da_vits.onnx
    depth-anything-ros export --checkpoint vits --format openvino \
        --input-size 518 --height 480 --width 640 --out da_vits_480x640.xml
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from depth_anything_ros.backends import export
from depth_anything_ros.commands.args import add_model_arguments, load_model_from_args
from depth_anything_ros.errors import InvalidInputError, user_errors

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the export command's flags."""
    add_model_arguments(parser)
    parser.add_argument('--format', choices=sorted(export.FORMATS), default='onnx',
                        help='onnx (any backend) or openvino (IR .xml + .bin)')
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument('--dynamic', action='store_true',
                       help='symbolic batch/height/width: one file for every input size')
    shape.add_argument('--input-size', type=int, default=None,
                       help='static export: short side of the network input (518, 364, 266)')
    parser.add_argument('--height', type=int, default=None,
                        help='camera image height (static export with --input-size)')
    parser.add_argument('--width', type=int, default=None,
                        help='camera image width (static export with --input-size)')
    parser.add_argument('--batch', type=int, default=1, help='static export batch size')
    parser.add_argument('--views', type=int, default=1,
                        help='static export of an any-view model: views per batch item '
                             '(--dynamic makes the view count dynamic too)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--exporter', choices=('torchscript', 'dynamo'), default='torchscript',
                        help='torch ONNX exporter (default torchscript: fast and robust here)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip running the exported file (onnxruntime for ONNX, OpenVINO '
                             'f32 for IR) against torch')
    parser.add_argument('--out', required=True, type=Path,
                        help='output file (.onnx, or .xml for --format openvino); metadata '
                             'goes next to it as .json')


def _check_exportable(model: Any, fmt: str) -> None:
    """InvalidInputError when the model's family does not run on the runtime of ``fmt``."""
    from depth_anything_ros.models.registry import family
    name = getattr(model, 'family', None)
    fam = family(name) if isinstance(name, str) else None
    runtime = 'openvino' if fmt == 'openvino' else 'onnxruntime'
    if fam is not None and runtime not in fam.backends:
        raise InvalidInputError(f'{fam.title} networks run on {", ".join(fam.backends)} only so '
                                f'far; they cannot be exported to {fmt}')


def main(args: argparse.Namespace) -> int:
    """Run the export command; returns a process exit code."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    from depth_anything_ros.backends.onnx_export import (
        export_onnx,
        export_openvino,
        graph_of,
        verify_export,
    )
    suffix = export.FORMATS[args.format]
    out = args.out
    if out.suffix.lower() != suffix:
        raise InvalidInputError(f'--format {args.format} writes a {suffix} file; got --out {out}')
    if args.batch < 1 or args.opset < 1 or args.views < 1:
        raise InvalidInputError('--batch, --views and --opset must be >= 1')
    with user_errors(ValueError, FileNotFoundError):
        if args.dynamic:
            if args.height is not None or args.width is not None:
                raise InvalidInputError('--height/--width make a static export; drop them or '
                                        '--dynamic')
        else:
            export.network_input_hw(args.input_size, args.height, args.width)  # checks
        model = load_model_from_args(args)
        hw = None if args.dynamic else _static_hw(model, args)
    _check_exportable(model, args.format)
    views = _views(model, args)
    shape_kw: dict[str, Any] = {'dynamic': True} if hw is None else \
        {'height': hw[0], 'width': hw[1]}
    with user_errors(ValueError):
        if args.format == 'openvino':
            export_openvino(model, out, opset=args.opset, batch=args.batch, views=views,
                            **shape_kw)
        else:
            export_onnx(model, out, opset=args.opset, exporter=args.exporter, batch=args.batch,
                        views=views, **shape_kw)
    if not args.no_verify:
        sizes = export.VERIFY_SIZES_DYNAMIC if hw is None else [hw]
        errors = verify_export(model, out, sizes, batch=1 if hw is None else args.batch,
                               views=None if hw is None else [views])
        runtime = 'OpenVINO f32' if args.format == 'openvino' else 'onnxruntime'
        relative = graph_of(model) is not None
        for case, err in errors.items():
            where = (f'{case[0]} view(s) {case[1]}x{case[2]}' if len(case) == 3
                     else f'{case[0]}x{case[1]}')
            log.info('verify %s: max |%s - torch| = %.2e%s', where, runtime, err,
                     ' (relative to the output scale)' if relative else '')
        # Metric outputs are metres up to max_depth: allow the same relative error.
        scale = max(1.0, (model.config.max_depth or 10) / 10) if model.is_metric else 1.0
        if relative:
            scale = 1.0   # the errors are relative already
        if max(errors.values()) > export.VERIFY_ATOL * scale:
            print(f'error: {out} differs from torch by more than {export.VERIFY_ATOL * scale:g}: '
                  f'{errors}')
            return 1
    print(f'wrote {out} and {out.with_suffix(".json")}'
          + (f' (+ {out.with_suffix(".bin")})' if args.format == 'openvino' else '')
          + (_dynamic_words(model) if hw is None else
             f', input {args.batch}x{f"{views}x" if views > 1 else ""}3x{hw[0]}x{hw[1]}'))
    return 0


def _static_hw(model: Any, args: argparse.Namespace) -> tuple[int, int]:
    """Network input (h, w) of a static export, by the model family's own input rule."""
    from depth_anything_ros.models.registry import family
    name = getattr(model, 'family', None)
    module = family(name).module() if isinstance(name, str) else None
    size = getattr(module, 'network_size', None)
    if callable(size) and args.input_size is not None and args.height is not None:
        return tuple(size(args.height, args.width, args.input_size))
    return export.network_input_hw(args.input_size, args.height, args.width)


def _views(model: Any, args: argparse.Namespace) -> int:
    """Return the views of a static export; InvalidInputError for a one-view model."""
    from depth_anything_ros.backends.onnx_export import graph_of
    graph = graph_of(model)
    if args.views != 1 and (graph is None or not graph.views):
        raise InvalidInputError(f'--views {args.views}: {model.config.encoder} takes one view '
                                'per image; drop --views')
    if args.views != 1 and args.dynamic:
        raise InvalidInputError('--views makes a static export; --dynamic has a dynamic view '
                                'count already')
    return args.views


def _dynamic_words(model: Any) -> str:
    from depth_anything_ros.backends.onnx_export import graph_of
    graph = graph_of(model)
    return ', dynamic batch/views/H/W' if graph is not None and graph.views else \
        ', dynamic H/W'
