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

"""Link a source checkout into an ament prefix, as ``colcon build --symlink-install`` would.

``pip install -e .`` installs no ``data_files``, so ``ament_index`` cannot find the package's
share directory. This writes the index marker and links ``package.xml``, ``launch/``,
``config/`` and ``rviz/`` under ``PREFIX/share/<package>``; edits in the checkout are live.

usage: python tools/ament_overlay.py SRC_DIR PREFIX_DIR
"""

import os
from pathlib import Path
import sys
import xml.etree.ElementTree as ElementTree

LINKED = ('package.xml', 'launch', 'config', 'rviz')


def make_overlay(src: Path, prefix: Path) -> Path:
    """Create the index marker and share links; return the share directory."""
    src, prefix = src.resolve(), prefix.resolve()
    name = ElementTree.parse(src / 'package.xml').getroot().findtext('name').strip()
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True, exist_ok=True)
    (index / name).touch()
    share = prefix / 'share' / name
    share.mkdir(parents=True, exist_ok=True)
    for entry in LINKED:
        target, link = src / entry, share / entry
        if link.is_symlink() or link.is_file():
            link.unlink()
        if target.exists():
            os.symlink(target, link)
    return share


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(make_overlay(Path(sys.argv[1]), Path(sys.argv[2])))
