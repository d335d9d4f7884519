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

"""Write the part of the rosdep database this package relies on, for test/data/rosdep_keys.json.

Reads a checkout of github.com/ros/rosdistro: every dependency key of package.xml, plus the
keys README and tools/install_robot.sh name (EXTRA_KEYS), looked up in

* ``<distro>/distribution.yaml`` for ROS packages (released version per distribution), and
* ``rosdep/*.yaml`` for system keys (the ``ubuntu`` and ``'*'`` rules only).

The test checks package.xml against this stored subset, so it runs without a network; refresh it
with ``python tools/rosdep_keys.py ROSDISTRO_CHECKOUT DATE > test/data/rosdep_keys.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import yaml

DISTROS = ('humble', 'jazzy', 'kilted')
# Named by README / install_robot.sh or test_packaging.py's key map, not by package.xml.
EXTRA_KEYS = ('rviz2', 'ros_base', 'tf2_ros', 'builtin_interfaces', 'lifecycle_msgs',
              'python3-onnxruntime-pip', 'python3-torch')
_DEPEND_TAGS = ('depend', 'exec_depend', 'build_depend', 'test_depend', 'buildtool_depend')


def package_keys(package_xml: Path) -> list[str]:
    """Return every dependency key of ``package_xml`` in file order, without repeats."""
    root = ElementTree.parse(package_xml).getroot()
    keys = [e.text.strip() for e in root if e.tag in _DEPEND_TAGS and e.text]
    return list(dict.fromkeys(keys))


def released_packages(rosdistro: Path, distro: str) -> dict[str, str]:
    """Return ``{package: released version}`` of one distribution's distribution.yaml."""
    data = yaml.safe_load((rosdistro / distro / 'distribution.yaml').read_text())
    found: dict[str, str] = {}
    for name, repo in data['repositories'].items():
        release = repo.get('release')
        if release and release.get('version'):
            for package in release.get('packages', [name]):
                found[package] = release['version']
    return found


def system_rules(rosdistro: Path) -> dict[str, dict]:
    """Return ``{key: {platform: rule}}`` of every rosdep/*.yaml, platforms ubuntu and '*'."""
    rules: dict[str, dict] = {}
    for path in sorted((rosdistro / 'rosdep').glob('*.yaml')):
        for key, platforms in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(platforms, dict):
                kept = {p: r for p, r in platforms.items() if p in ('ubuntu', '*')}
                if kept:
                    rules[key] = kept
    return rules


def subset(rosdistro: Path, keys: list[str], date: str) -> dict:
    """Return the stored form: where and when it was read, ROS packages and system rules."""
    head = subprocess.run(['git', '-C', str(rosdistro), 'log', '-1', '--format=%H %cs'],
                          capture_output=True, text=True).stdout.split()
    released = {d: released_packages(rosdistro, d) for d in DISTROS}
    rules = system_rules(rosdistro)
    return {
        'read': date,
        'source': 'github.com/ros/rosdistro' + (f' {head[0]} ({head[1]})' if head else ''),
        'ubuntu': {'humble': 'jammy', 'jazzy': 'noble', 'kilted': 'noble'},
        'ros_packages': {d: {k: released[d][k] for k in keys if k in released[d]}
                         for d in DISTROS},
        'system_keys': {k: rules[k] for k in keys if k in rules},
    }


def main(argv: list[str]) -> int:
    """Print the subset as JSON; argv: ROSDISTRO_CHECKOUT DATE (YYYY-MM-DD)."""
    if len(argv) != 2:
        print('usage: python tools/rosdep_keys.py ROSDISTRO_CHECKOUT YYYY-MM-DD', file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parents[1]
    keys = package_keys(repo / 'package.xml') + list(EXTRA_KEYS)
    print(json.dumps(subset(Path(argv[0]), list(dict.fromkeys(keys)), argv[1]), indent=1,
                     sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
