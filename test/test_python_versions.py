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

"""The package runs on Humble's Python 3.10; the development tools on 3.10 to 3.12.

The tests run on 3.11, so nothing here executes code under 3.10: every installed module, the
launch file, setup.py and tools/ are parsed with ``feature_version=(3, 10)`` (syntax of 3.11 and
later, such as ``except*``, is refused) and searched for standard-library names that first
appeared in 3.11 or 3.12, and tools/ for ``distutils``, which 3.12 removed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Standard-library names new in Python 3.11 or 3.12: (module, name); module '' = a builtin.
NEWER_NAMES = {
    ('', 'ExceptionGroup'), ('', 'BaseExceptionGroup'),
    ('tomllib', '*'), ('wsgiref.types', '*'),
    ('contextlib', 'chdir'), ('datetime', 'UTC'),
    ('enum', 'StrEnum'), ('enum', 'ReprEnum'), ('enum', 'EnumCheck'), ('enum', 'verify'),
    ('enum', 'FlagBoundary'), ('enum', 'global_enum'), ('enum', 'member'), ('enum', 'nonmember'),
    ('typing', 'Self'), ('typing', 'LiteralString'), ('typing', 'Never'),
    ('typing', 'assert_never'), ('typing', 'assert_type'), ('typing', 'reveal_type'),
    ('typing', 'TypeVarTuple'), ('typing', 'Unpack'), ('typing', 'Required'),
    ('typing', 'NotRequired'), ('typing', 'dataclass_transform'), ('typing', 'override'),
    ('typing', 'TypeAliasType'), ('typing', 'get_overloads'), ('typing', 'clear_overloads'),
    ('asyncio', 'TaskGroup'), ('asyncio', 'timeout'), ('asyncio', 'timeout_at'),
    ('asyncio', 'Runner'), ('asyncio', 'Barrier'), ('hashlib', 'file_digest'),
    ('operator', 'call'), ('math', 'exp2'), ('math', 'cbrt'), ('math', 'sumprod'),
    ('itertools', 'batched'), ('sys', 'exception'), ('sys', 'monitoring'),
    ('sys', 'activate_stack_trampoline'), ('types', 'get_original_bases'),
    ('collections.abc', 'Buffer'), ('calendar', 'Month'), ('calendar', 'Day'),
    ('inspect', 'markcoroutinefunction'), ('logging', 'getLevelNamesMapping'),
    ('re', 'NOFLAG'), ('string', 'Template.get_identifiers'),
}
_NEW_MODULES = {m for m, n in NEWER_NAMES if n == '*'}
_BUILTINS = {n for m, n in NEWER_NAMES if m == ''}


def newer_names(tree: ast.AST, banned_modules: frozenset[str] = frozenset()) -> list[str]:
    """Return ``line: name`` for each 3.11+ standard-library name (or banned module) used."""
    found: list[str] = []
    aliases: dict[str, str] = {}      # local name -> module it stands for

    def module_banned(module: str) -> bool:
        top = module.split('.')[0]
        return module in _NEW_MODULES or top in banned_modules

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split('.')[0]] = a.name if a.asname else \
                    a.name.split('.')[0]
                if module_banned(a.name):
                    found.append(f'{node.lineno}: import {a.name}')
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if module_banned(node.module):
                found.append(f'{node.lineno}: from {node.module} import ...')
            for a in node.names:
                if (node.module, a.name) in NEWER_NAMES:
                    found.append(f'{node.lineno}: from {node.module} import {a.name}')
                aliases.setdefault(a.asname or a.name, f'{node.module}.{a.name}')
        elif isinstance(node, ast.Name) and node.id in _BUILTINS:
            found.append(f'{node.lineno}: {node.id}')
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
            base = ast.unparse(node.value)
            head, _, rest = base.partition('.')
            module = aliases.get(head, head) + (f'.{rest}' if rest else '')
            if (module, node.attr) in NEWER_NAMES:
                found.append(f'{node.lineno}: {module}.{node.attr}')
    return found


def _sources(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in REPO.glob(pattern))


RUNTIME = _sources('depth_anything_ros/**/*.py', 'launch/*.launch.py', 'setup.py')
TOOLS = _sources('tools/*.py')


@pytest.mark.parametrize('path', RUNTIME + TOOLS, ids=lambda p: str(p.relative_to(REPO)))
def test_parses_as_python_3_10_without_newer_standard_library_names(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))
    # tools run on 3.12 too, where distutils is gone
    banned = frozenset({'distutils'}) if path in TOOLS else frozenset()
    assert newer_names(tree, banned) == [], f'{path.relative_to(REPO)} needs Python 3.11+'


def test_the_check_finds_what_it_looks_for() -> None:
    src = """
import contextlib
import typing as t
from datetime import UTC
from distutils.core import run_setup
import tomllib
with contextlib.chdir('.'):
    x: t.Self
raise ExceptionGroup('x', [])
"""
    found = newer_names(ast.parse(src), frozenset({'distutils'}))
    assert sorted(found) == ['4: from datetime import UTC', '5: from distutils.core import ...',
                             '6: import tomllib', '7: contextlib.chdir', '8: typing.Self',
                             '9: ExceptionGroup']
    with pytest.raises(SyntaxError):
        ast.parse('try:\n    pass\nexcept* ValueError:\n    pass\n', feature_version=(3, 10))
    assert RUNTIME and TOOLS and REPO / 'launch' / 'depth.launch.py' in RUNTIME
