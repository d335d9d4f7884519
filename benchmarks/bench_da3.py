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

"""Depth Anything 3 small vs Depth Anything V2 small, same run, same network input.

Every backend this machine has (torch fp32 / bf16, onnxruntime, OpenVINO fp32 / bf16), at the
same processing resolution for both families: sizes are short sides, Depth Anything 3 gets the
longest side of that same network input (``depth-anything-ros bench``; the rows' ``net_input``
shows it). Deterministic weights time exactly like real ones. Prints the table and writes JSON.

    python benchmarks/bench_da3.py --out out/bench             # 518 and 266
    python benchmarks/bench_da3.py --quick                     # 266, 2 runs
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from depth_anything_ros.commands import cli


def arguments(args: argparse.Namespace) -> list[str]:
    """Return the ``depth-anything-ros bench`` command line for ``args``."""
    sizes = args.input_sizes or ('266' if args.quick else '518,266')
    line = ['bench', '--encoder', args.encoders, '--input-size', sizes, '--preprocess', 'fast',
            '--backend', args.backends, '--precision', args.precisions,
            '--out', str(args.out / 'da3_vs_da2.json')]
    if args.quick:
        line += ['--runs', '2', '--warmup', '1']
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    parser.add_argument('--quick', action='store_true', help='input 266, 2 timed runs')
    parser.add_argument('--encoders', default='vits,da3-small',
                        help='comma list (default vits,da3-small)')
    parser.add_argument('--input-sizes', default=None, help='comma list of short sides')
    parser.add_argument('--backends', default='torch,onnxruntime,openvino')
    parser.add_argument('--precisions', default='fp32,bf16')
    args = parser.parse_args(argv)
    return cli.main(arguments(args))


if __name__ == '__main__':
    sys.exit(main())
