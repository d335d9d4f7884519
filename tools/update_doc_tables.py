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

"""Rewrite the generated tables of README.md and docs/node.md from their sources.

    python tools/update_doc_tables.py        # after changing the parameter schema, the launch
                                             # arguments or the model-family registry

Each table sits between ``<!-- NAME:begin ... -->`` and ``<!-- NAME:end -->`` markers; the tests
(test_params, test_launch_file, test_da3_family) check that they are current.
"""

from pathlib import Path

from depth_anything_ros import params
from depth_anything_ros.models import registry
from depth_anything_ros.ros import launch_args

REPO = Path(__file__).resolve().parents[1]
TABLES = {'parameters': params.markdown_table, 'launch-arguments': launch_args.markdown_table,
          'models': registry.markdown_table, 'backends': registry.backends_table}


def update(text: str) -> str:
    """Return ``text`` with every marked table regenerated."""
    for name, make in TABLES.items():
        begin = f'<!-- {name}:begin'
        if begin not in text:
            continue
        start = text.index('\n', text.index(begin)) + 1
        end = text.index(f'<!-- {name}:end -->')
        text = text[:start] + make() + '\n' + text[end:]
    return text


def main() -> None:
    for doc in ('README.md', 'docs/node.md', 'docs/backends.md'):
        path = REPO / doc
        path.write_text(update(path.read_text()))


if __name__ == '__main__':
    main()
