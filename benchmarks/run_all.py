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

"""Run every benchmark in turn (``make bench``); each prints its table and writes JSON.

Run on an otherwise idle machine: the figures are wall-clock latencies.

    python benchmarks/run_all.py --out out/bench [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import subprocess
import sys

HERE = Path(__file__).resolve().parent


def commands(out: Path, quick: bool) -> list[list[str]]:
    """Return the benchmark command lines, cheapest first."""
    q = ['--quick'] if quick else []
    return [
        ['bench_cloud.py', '--out', str(out), *q],
        ['bench_publish.py', '--out', str(out), *q],
        ['bench_alignment.py', '--out', str(out), *q],
        ['bench_temporal.py', '--out', str(out), *q],
        ['bench_anyview.py', '--out', str(out), *q],
        ['bench_model.py', '--out', str(out / 'model.json'), *q],
        ['bench_baseline.py', '--out', str(out), *(['--rounds', '2'] if quick else [])],
        ['bench_backends.py', '--out', str(out / 'backends.json'), *q],
        ['bench_da3.py', '--out', str(out), *q],
        ['bench_engine_cache.py', '--out', str(out / 'engine_cache.json'), *q],
        ['bench_node.py', '--out', str(out), *q],
        ['bench_multicam.py', '--out', str(out), *q],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    parser.add_argument('--quick', action='store_true', help='smoke-test sizes')
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for script, *rest in commands(args.out, args.quick):
        print(f'\n=== {script} {" ".join(rest)}', flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *rest]).returncode != 0:
            failed.append(script)
    if failed:
        print('failed: ' + ', '.join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
