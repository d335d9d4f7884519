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

"""Imports point one way, and only the command adapters talk to the command line.

Core (model/, training/, geometry, estimator, ...) <- conversions (messages) <- node; the
``depth-anything-ros`` commands (cli.py, cli_args.py, commands/) sit on top and are the only
modules that parse flags or print.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / 'depth_anything_ros'
ADAPTERS = ('cli.py', 'cli_args.py', 'commands/')
# modules that must never reach rclpy or the node (messages at most)
NO_ROS_NODE = ('model/', 'training/', 'backends/', 'conversions.py', 'geometry.py',
               'estimator.py', 'pipeline.py', 'params.py', 'alignment.py', 'vocabulary.py',
               'devices.py', 'topics.py', 'bags.py', 'launch_args.py')


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(PKG).as_posix(), ast.parse(p.read_text()))
            for p in sorted(PKG.rglob('*.py'))]


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node outside ``if TYPE_CHECKING:`` and ``if __name__ == '__main__':`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test == 'TYPE_CHECKING' or '__main__' in test:
                skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def _imports(nodes: list[ast.AST]) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f'{node.module}.{a.name}' for a in node.names)
    return out


@pytest.mark.parametrize('rel, tree', [m for m in _modules() if not m[0].startswith(ADAPTERS)],
                         ids=lambda v: v if isinstance(v, str) else '')
def test_library_modules_neither_parse_flags_nor_print(rel: str, tree: ast.Module) -> None:
    nodes = _runtime_nodes(tree)
    imports = _imports(nodes)
    assert 'argparse' not in imports, f'{rel}: argparse belongs in commands/ (or cli_args.py)'
    upward = sorted(i for i in imports if i.startswith(('depth_anything_ros.commands',
                                                        'depth_anything_ros.cli')))
    assert not upward, f'{rel} imports the command layer: {upward}'
    prints = [n.lineno for n in nodes if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id == 'print']
    assert not prints, f'{rel}: print() on lines {prints}; log, or print in commands/'


@pytest.mark.parametrize('rel, tree', [m for m in _modules() if m[0].startswith(NO_ROS_NODE)],
                         ids=lambda v: v if isinstance(v, str) else '')
def test_core_and_conversions_never_reach_rclpy_or_the_node(rel: str, tree: ast.Module) -> None:
    imports = _imports(_runtime_nodes(tree))
    bad = sorted(i for i in imports if i.split('.')[0] == 'rclpy' or i.startswith((
        'depth_anything_ros.node', 'depth_anything_ros.lifecycle_node')))
    assert not bad, f'{rel} imports {bad}'


def test_readme_layout_names_every_module_and_package() -> None:
    text = (PKG.parent / 'README.md').read_text()
    layout = text[text.index('## Layout'):]
    names = [p.name for p in PKG.glob('*.py') if p.name != '__init__.py']
    names += [f'{p.name}/' for p in PKG.iterdir() if (p / '__init__.py').is_file()]
    missing = sorted(n for n in names if n not in layout)
    assert not missing, f'README "Layout" does not show {missing}'
