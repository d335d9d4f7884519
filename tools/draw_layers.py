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

"""Draw the package's layers and the imports between them (docs/images/layers.png).

    python tools/draw_layers.py [--out docs/images/layers.png]

The picture is computed from the source, as test/test_layers.py reads it: one box per layer
(lowest at the bottom) listing its modules and sub-packages, and one arrow per pair of layers
that import each other, labelled with the number of import edges. Every arrow points down (or
stays inside a layer); the registry's run-time lookup of family declarations is dashed.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
import importlib.util
from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parents[1]
STEP = 1.6   # vertical distance between layers
NAMES = {0: 'core: vocabulary, params, core/, models.registry\nnumpy, OpenCV (no torch, rclpy)',
         1: 'model families: model/, models/\n+ torch', 2: 'backends/\n+ optional runtimes',
         3: 'estimator', 4: 'training/\n(never rclpy)', 5: 'ros/\n+ rclpy, messages',
         6: 'offline/', 7: 'commands/, __main__\n+ argparse, print'}


def _layers_module():
    spec = importlib.util.spec_from_file_location('test_layers', ROOT / 'test' / 'test_layers.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', type=Path, default=ROOT / 'docs' / 'images' / 'layers.png')
    args = parser.parse_args()
    import ast

    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    import matplotlib.pyplot as plt

    layers = _layers_module()
    sources = layers._package_sources()
    members: dict[int, set[str]] = defaultdict(set)
    edges: Counter = Counter()
    for module, (src, is_pkg) in sources.items():
        here = layers.rank(module)
        rel = module[len(layers.ROOT) + 1:]
        top = rel.split('.')[0] if rel else '__init__.py'
        if not rel:
            pass
        elif rel.startswith('models.'):   # the families' folder: show its parts
            parts = rel.split('.')
            top = 'models/' + parts[1] + ('/' if is_pkg or len(parts) > 2 else '.py')
        elif '.' in rel or is_pkg:
            top += '/'
        elif rel:
            top += '.py'
        members[here].add(top)
        deps = layers.imports(module, ast.parse(src), is_package=is_pkg, type_checking=False)
        for dep in deps:
            if dep in sources and dep != module and not module.startswith(dep + '.'):
                there = layers.rank(dep)
                if there != here:
                    edges[(here, there)] += 1
    fig, ax = plt.subplots(figsize=(11, 13))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.5, 8 * STEP)
    ax.axis('off')
    centre: dict[int, tuple[float, float]] = {}
    for rank in range(8):
        y = rank * STEP
        box = FancyBboxPatch((0.3, y), 6.2, 1.3, boxstyle='round,pad=0.05',
                             fc=plt.cm.Pastel1(rank % 9), ec='0.3')
        ax.add_patch(box)
        ax.text(0.45, y + 1.25, f'{rank}  {NAMES[rank]}', fontsize=10, va='top',
                fontweight='bold')
        shown = sorted(members[rank])
        lines = ['']
        for name in shown:   # wrap by hand: about 70 characters a line
            if len(lines[-1]) + len(name) > 70:
                lines.append('')
            lines[-1] += name + '  '
        ax.text(0.45, y + 0.08, '\n'.join(lines), fontsize=7.5, va='bottom',
                family='monospace')
        centre[rank] = (6.5, y + 0.65)
    # one column per importing layer: its arrows run down to every layer it imports
    for (src, dst), count in sorted(edges.items()):
        x = 6.8 + 0.55 * src
        colour = 'tab:red' if dst > src else plt.cm.Dark2(src % 8)
        ax.add_patch(FancyArrowPatch((x, centre[src][1]), (x, centre[dst][1] + 0.25),
                                     arrowstyle='-|>', mutation_scale=9, lw=0.9,
                                     color=colour))
        ax.plot([x - 0.08, x + 0.08], [centre[src][1]] * 2, color=colour, lw=2)
        ax.text(x + 0.04, centre[dst][1] + 0.12, str(count), fontsize=6.5, color=colour,
                va='center')
    # the registry finds the family declarations (models/<family>/family.py) at run time
    ax.add_patch(FancyArrowPatch((3.0, 1.35), (3.0, STEP), arrowstyle='-|>', ls='--',
                                 mutation_scale=10, color='tab:blue'))
    ax.text(3.1, 1.42, 'registry finds family.py at run time', fontsize=7, color='tab:blue')
    for rank in range(8):
        ax.text(6.8 + 0.55 * rank, 8 * STEP - 0.25, str(rank), ha='center', fontsize=8,
                color=plt.cm.Dark2(rank % 8), fontweight='bold')
    ax.text(6.6, 8 * STEP - 0.05, 'imports made by layer ... (numbers: import statements)',
            fontsize=7.5)
    ax.set_title('depth_anything_ros: the layers (a module imports its own layer and the ones '
                 'below it)', fontsize=10)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches='tight')
    up = [e for e in edges if e[1] > e[0]]
    print(f'wrote {args.out}; {sum(edges.values())} import edges between layers, '
          f'{len(up)} pointing up')
    return 1 if up else 0


if __name__ == '__main__':
    sys.exit(main())
