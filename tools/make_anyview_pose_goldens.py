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

"""Make ``test/data/da3_pose_goldens.json``: the official normalisation of known poses.

The official inference (``depth_anything_3/api.py``) normalises the world-to-camera
extrinsics it is given before the forward pass (the first view becomes the world, the
translations are divided by the median camera distance). This script runs that official
function, and the official ``affine_inverse`` it uses, on rigs of 1 to 4 cameras (random
rigid poses, a rig in millimetres, a rig smaller than the distance floor) and stores the poses
(camera -> common frame, as ``core.multiview.pose_tensor`` takes them) with the official
output; ``test/test_multiview.py`` compares. Only those two functions are read out of the
official sources (with ``ast``), so nothing but torch is needed::

    python tools/make_anyview_pose_goldens.py /path/to/Depth-Anything-3/src
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / 'test' / 'data' / 'da3_pose_goldens.json'


def _function(path: Path, name: str, cls: str | None = None) -> ast.FunctionDef:
    tree = ast.parse(path.read_text())
    body = tree.body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)


def official_functions(src: Path) -> dict:
    """Return the official ``_normalize_extrinsics`` (a method; pass None as self)."""
    namespace: dict = {'torch': torch}
    for path, name, cls in ((src / 'depth_anything_3' / 'utils' / 'geometry.py',
                             'affine_inverse', None),
                            (src / 'depth_anything_3' / 'api.py', '_normalize_extrinsics',
                             'DepthAnything3')):
        fn = _function(path, name, cls)
        fn.returns = None
        fn.decorator_list = []   # affine_inverse is torch.jit.scripted: the same in eager mode
        for arg in fn.args.args:
            arg.annotation = None
        module = ast.Module(body=[fn], type_ignores=[])
        exec(compile(ast.fix_missing_locations(module), str(path), 'exec'), namespace)  # noqa: S102
    return namespace


def rigid(rng: np.random.Generator, scale: float) -> np.ndarray:
    """Return a random rigid transform with translations of about ``scale``."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    x, y, z, w = q
    m = np.eye(4)
    m[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    m[:3, 3] = rng.normal(scale=scale, size=3)
    return m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', type=Path, help="the official repository's src folder")
    args = parser.parse_args()
    normalise = official_functions(args.src)['_normalize_extrinsics']
    rng = np.random.default_rng(19)
    cases = []
    for name, views, scale in (('one view', 1, 1.0), ('two views', 2, 1.0),
                               ('three views', 3, 2.0), ('four views', 4, 0.5),
                               ('millimetres', 3, 400.0), ('below the floor', 3, 0.01)):
        poses = [rigid(rng, scale) for _ in range(views)]        # camera -> common frame
        w2c = torch.from_numpy(np.stack([np.linalg.inv(p) for p in poses]))[None]  # (1, S, 4, 4)
        out = normalise(None, w2c.clone())[0].numpy()
        cases.append({'name': name, 'poses': [p.tolist() for p in poses],
                      'official': out.tolist()})
    OUT.write_text(json.dumps({'source': 'depth_anything_3/api.py _normalize_extrinsics '
                                         '(float64)', 'cases': cases}, indent=1) + '\n')
    print(f'wrote {OUT} ({len(cases)} cases)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
