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

"""Benchmark the Depth Anything V2 pipeline (thin wrapper of ``depth-anything-ros bench``).

Examples::

    python benchmarks/bench_model.py --quick
    python benchmarks/bench_model.py --encoder vits --input-size 518,364,266 \
        --precision fp32,bf16 --preprocess exact,fast --out out/bench/model.json

Run it on an otherwise idle machine: the numbers are wall-clock latencies.
"""

from __future__ import annotations

import argparse
import sys

from depth_anything_ros.commands import bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='bench_model.py', description=__doc__.split('\n')[0])
    bench.add_arguments(parser)
    return bench.main(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
