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

"""Lint as the ament linters do: flake8 rules at 99 columns, pep257, copyright headers."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = (REPO / 'tools' / 'license_header.txt').read_text().splitlines()
SOURCE_DIRS = ('depth_anything_ros', 'test', 'launch', 'tools', 'benchmarks')


def _python_files() -> list[Path]:
    files = [REPO / 'setup.py']
    for d in SOURCE_DIRS:
        files += sorted((REPO / d).rglob('*.py'))
    return [f for f in files if '__pycache__' not in f.parts]


def test_ruff_flake8_and_pep257() -> None:
    ruff = shutil.which('ruff') or str(Path(sys.executable).with_name('ruff'))
    if not Path(ruff).exists():
        pytest.skip('ruff is not installed (pip install ruff)')
    result = subprocess.run([ruff, 'check', '--no-cache', *SOURCE_DIRS, 'setup.py'],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('path', _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_copyright_header(path: Path) -> None:
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    assert lines[:len(HEADER)] == HEADER, (
        f'{path.relative_to(REPO)} must start with the Apache-2.0 header of '
        'tools/license_header.txt')


# What ament_flake8 (flake8 + import-order google, quotes, builtins, blind-except, comprehensions,
# docstrings) and ament_pep257 report, each with a snippet the project's ruff config must flag.
AMENT_RULES = {
    'I001': 'import sys\nimport os\n',                                  # import order (google)
    'Q000': 'x = "double"\n',                                           # flake8-quotes: single
    'E302': 'import os\n\nx = os\ndef f():\n    pass\n',                # blank lines
    'E303': 'x = 1\n\n\n\ny = 2\n',
    'E501': 'x = ' + repr('a' * 100) + '\n',                            # 99 columns
    'A001': 'list = 1\n',                                               # flake8-builtins
    'BLE001': 'try:\n    pass\nexcept Exception:\n    pass\n',         # flake8-blind-except
    'C401': 'x = set(i for i in range(3))\n',                           # comprehensions
    'D300': "def f():\n    '''Doc.'''\n",                               # pep257
    'F401': 'import os\n',                                              # pyflakes
}


@pytest.mark.parametrize('code, snippet', sorted(AMENT_RULES.items()))
def test_ruff_config_flags_what_the_ament_linters_flag(code: str, snippet: str,
                                                         tmp_path: Path) -> None:
    ruff = shutil.which('ruff') or str(Path(sys.executable).with_name('ruff'))
    if not Path(ruff).exists():
        pytest.skip('ruff is not installed (pip install ruff)')
    bad = tmp_path / 'bad.py'
    bad.write_text(snippet)
    result = subprocess.run([ruff, 'check', '--no-cache', '--config', str(REPO / 'ruff.toml'),
                             '--output-format', 'json', str(bad)],
                            capture_output=True, text=True)
    codes = {d['code'] for d in json.loads(result.stdout)}
    assert code in codes, result.stdout + result.stderr
