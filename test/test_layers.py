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

"""Imports point one way, with no circle, and only the command adapters talk to the command line.

The layers, lowest first (a module may import its own layer and the ones below it):

====  ==================================  =========================================
rank  modules                             may import from outside the package
====  ==================================  =========================================
0     ``vocabulary``, ``errors``,         numpy, OpenCV, yaml (no torch, rclpy, msgs)
      ``params``, core/,
      ``models.registry``
1     model/, models/                     + torch
2     backends/                           + torch, the optional runtimes
3     ``estimator``                       + torch
4     training/                           + torch (never rclpy or messages)
5     ros/                                + rclpy and message packages
6     offline/                            + rclpy, messages (through ros/)
7     commands/, ``__main__``             + argparse, print
====  ==================================  =========================================

The model-family registry is plain data at rank 0 so that the parameter schema can take its
choices from it; it finds the families' declarations (``models/<family>/family.py``, torch-free)
by their folders at run time, not by an import statement.

The graph is read from the source (every ``import`` outside ``if __name__ == '__main__'``; the
circle check counts ``if TYPE_CHECKING:`` imports too, since a circle there is a circle of
concepts). :func:`violations` is a pure function of ``{module: source}``, so the test below
can show it catching deliberately bad imports.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
import functools
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / 'depth_anything_ros'
ROOT = 'depth_anything_ros'

# (module-name prefix below the package, rank); the longest matching prefix wins.
LAYERS: tuple[tuple[str, int], ...] = (
    ('', 0), ('vocabulary', 0), ('errors', 0), ('params', 0), ('alignment', 0), ('core', 0),
    ('model', 1), ('models', 1), ('models.registry', 0), ('backends', 2), ('estimator', 3),
    ('training', 4), ('ros', 5), ('offline', 6), ('commands', 7), ('__main__', 7),
)
# third-party top-level modules a layer may not import (ranks up to and including the given one)
FORBIDDEN: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (0, 'torch and the runtimes live in model/, models/, backends/ and above',
     ('torch', 'openvino', 'onnxruntime', 'tensorrt')),
    (4, 'rclpy and messages live in ros/ and above', ('rclpy',)),
)
ADAPTER_RANK = 7


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def rank(module: str) -> int:
    rel = module[len(ROOT) + 1:] if module != ROOT else ''
    best = max((p for p, _ in LAYERS if rel == p or rel.startswith(p + '.') or p == ''),
               key=len)
    return dict(LAYERS)[best]


def _skipped(tree: ast.Module, *, type_checking: bool) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if '__main__' in test or (type_checking and test == 'TYPE_CHECKING'):
                skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def imports(module: str, tree: ast.Module, *, is_package: bool,
            type_checking: bool) -> set[str]:
    """Absolute names ``module`` imports (``a.b``; ``a.b.name`` for ``from a.b import name``)."""
    skipped = _skipped(tree, type_checking=type_checking)
    package = module if is_package else module.rpartition('.')[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            out.add(name)
            out.update(f'{name}.{a.name}' for a in node.names)
    return out


@functools.cache
def _parse(source: str) -> ast.Module:
    return ast.parse(source)   # a module's tree, parsed once per source text (read-only use)


def violations(sources: Mapping[str, tuple[str, bool]]) -> list[str]:
    """Every layering problem in ``{module: (source, is_package)}``, one line each."""
    trees = {m: _parse(src) for m, (src, _) in sources.items()}
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for module, tree in trees.items():
        is_pkg = sources[module][1]
        runtime = imports(module, tree, is_package=is_pkg, type_checking=True)
        everything = imports(module, tree, is_package=is_pkg, type_checking=False)
        graph[module] = {i for i in everything if i in trees and i != module}
        here = rank(module)
        for dep in sorted(i for i in runtime if i in trees and i != module):
            if rank(dep) > here and not module.startswith(dep + '.'):
                problems.append(f'{module} (layer {here}) imports {dep} (layer {rank(dep)}): '
                                'an upward import')
        for up_to, why, names in FORBIDDEN:
            if here <= up_to:
                bad = sorted({i for i in runtime if i.split('.')[0] in names})
                bad += sorted(i for i in runtime if i.split('.')[0].endswith('_msgs')
                              and 'rclpy' in names)
                if bad:
                    problems.append(f'{module} imports {bad}: {why}')
        if here < ADAPTER_RANK and 'argparse' in runtime:
            problems.append(f'{module}: argparse belongs in commands/')
    problems += [f'import circle: {" -> ".join(c)}' for c in _circles(graph)]
    return problems


def _circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One path per import circle (depth-first search; a package's own __init__ is no edge)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if node.startswith(nxt + '.'):
                continue   # importing one's own package runs its __init__: not a circle
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def _package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == '__init__.py')
            for p in sorted(PKG.rglob('*.py'))}


def test_the_package_import_graph_keeps_its_layers() -> None:
    problems = violations(_package_sources())
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('module, source, expected', [
    ('depth_anything_ros.core.images', 'import rclpy\n', 'rclpy and messages'),
    ('depth_anything_ros.core.images', 'from sensor_msgs.msg import Image\n',
     'rclpy and messages'),
    ('depth_anything_ros.core.geometry', 'import torch\n', 'torch and the runtimes'),
    ('depth_anything_ros.training.labels', 'from rclpy.node import Node\n',
     'rclpy and messages'),
    ('depth_anything_ros.core.pipeline', 'from depth_anything_ros.ros import conversions\n',
     'an upward import'),
    ('depth_anything_ros.estimator', 'from depth_anything_ros.ros.node import main\n',
     'an upward import'),
    ('depth_anything_ros.training.distill', 'from depth_anything_ros.commands.cli import main\n',
     'an upward import'),
    ('depth_anything_ros.core.sync', 'import argparse\n', 'argparse belongs'),
    ('depth_anything_ros.models.registry', 'import torch\n', 'torch and the runtimes'),
    ('depth_anything_ros.models.registry',
     'from depth_anything_ros.models.da2 import network\n', 'an upward import'),
    ('depth_anything_ros.core.sync', 'if TYPE_CHECKING:\n    from depth_anything_ros.core '
     'import images\n', 'import circle'),
])
def test_a_deliberate_bad_import_is_caught(module: str, source: str, expected: str) -> None:
    sources = _package_sources()
    assert not violations(sources)
    original, is_pkg = sources[module]
    sources[module] = (original + '\n' + source, is_pkg)
    if expected == 'import circle':   # make core.images import core.sync back
        src, pkg = sources['depth_anything_ros.core.images']
        sources['depth_anything_ros.core.images'] = (
            src + '\nfrom depth_anything_ros.core import sync\n', pkg)
    problems = violations(sources)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('path', [p for p in sorted(PKG.rglob('*.py'))
                                  if rank(module_name(p)) < ADAPTER_RANK],
                         ids=lambda p: p.relative_to(PKG).as_posix())
def test_library_modules_do_not_print(path: Path) -> None:
    tree = ast.parse(path.read_text())
    skipped = _skipped(tree, type_checking=True)
    prints = [n.lineno for n in ast.walk(tree) if id(n) not in skipped
              and isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id == 'print']
    assert not prints, f'print() on lines {prints}; log, or print in commands/'


def test_every_module_has_a_layer() -> None:
    """A new top-level module must be given a layer here (the default '' is the package root)."""
    top = sorted(p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__',))
    named = {p for p, _ in LAYERS}
    assert set(top) <= named, f'no layer for {sorted(set(top) - named)}'
    subpackages = sorted(p.name for p in PKG.iterdir() if (p / '__init__.py').is_file())
    assert set(subpackages) <= named, f'no layer for {sorted(set(subpackages) - named)}'


def test_readme_layout_names_every_module_and_package() -> None:
    text = (PKG.parent / 'README.md').read_text()
    layout = text[text.index('## Layout'):]
    names = [p.name for p in PKG.glob('*.py') if p.name != '__init__.py']
    names += [f'{p.name}/' for p in PKG.iterdir() if (p / '__init__.py').is_file()]
    missing = sorted(n for n in names if n not in layout)
    assert not missing, f'README "Layout" does not show {missing}'


def test_the_parameter_schema_reads_the_registry_without_torch() -> None:
    """The registry imports every family's declaration: none of them may pull in torch."""
    import subprocess
    import sys
    code = ('import sys, depth_anything_ros.params as p; '
            'from depth_anything_ros.models.registry import families; '
            'assert families() and p.spec("encoder").choices; '
            'print(sorted(m for m in ("torch", "cv2", "rclpy") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert 'torch' not in out and 'rclpy' not in out, out
