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

"""The toy model that ships with the package (``rooms_tiny``, tools/make_bundled_model.py)."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np

from depth_anything_ros.models.hub import (
    BUNDLED_DIR,
    checkpoint_info,
    download,
    resolve_checkpoint,
)
from depth_anything_ros.offline.demo import BUNDLED_CHECKPOINT, DATA, read_stream, toy_note

ROOT = Path(__file__).resolve().parents[1]


def test_it_ships_small_with_its_recipe_and_scores(tmp_path: Path) -> None:
    path = resolve_checkpoint(BUNDLED_CHECKPOINT, tmp_path)   # nothing in the weights dir
    assert path == BUNDLED_DIR / 'rooms_tiny.pth' and path.stat().st_size < 5_000_000
    side = json.loads(path.with_suffix('.json').read_text())
    assert side['licence'] == 'Apache-2.0' and side['encoder'] == 'tiny'
    assert side['head'] == 'metric' and 'not Depth Anything' in side['note']
    assert side['training']['command'] == 'python tools/make_bundled_model.py'
    assert (ROOT / 'tools' / 'make_bundled_model.py').is_file()
    scores = side['metrics']
    # it learned: validation error fell during training, and held-out rooms score alike
    assert scores['val_end']['abs_rel'] < 0.5 * scores['val_start']['abs_rel']
    assert scores['held_out']['abs_rel'] < 0.35 and scores['held_out']['delta1'] > 0.5
    # `download` knows it ships with the package: no network, the same file
    assert download(BUNDLED_CHECKPOINT, tmp_path) == path
    info = checkpoint_info(BUNDLED_CHECKPOINT)
    assert info is not None and info.bundled and toy_note(BUNDLED_CHECKPOINT) == info.note


def test_its_depth_of_the_demo_room_looks_like_a_room() -> None:
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.ros.conversions import compressed_to_array

    est = DepthEstimator.from_config(BUNDLED_CHECKPOINT, input_size=196, device='cpu',
                                     backend='torch', precision='fp32')
    assert est.is_metric and 'toy' in est.note
    jpeg, _ = read_stream(DATA, 1)[0]
    pixels, encoding = compressed_to_array(jpeg)
    depth = est.infer(pixels, encoding)
    h = depth.shape[0]
    floor = np.nanmedian(depth[int(0.85 * h):])            # the floor just before the camera
    back = np.nanmedian(depth[int(0.3 * h):int(0.5 * h)])  # the far wall, mid-height
    assert np.isfinite(depth).all() and 0.1 < floor < back < 10.0
    assert back > 1.5 * floor


def test_infer_says_what_it_is(tmp_path: Path) -> None:
    image = np.zeros((64, 80, 3), np.uint8)
    import cv2
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    result = subprocess.run(
        [sys.executable, '-m', 'depth_anything_ros', 'infer', '--checkpoint', BUNDLED_CHECKPOINT,
         '--input-size', '196', '--out', str(tmp_path / 'out'), str(tmp_path / 'a.png')],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'NOTE: these weights are a toy' in result.stdout
    assert 'weights licence: Apache-2.0' in result.stdout
