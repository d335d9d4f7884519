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

import importlib.util
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
from depth_anything_ros.offline.demo import BUNDLED_CHECKPOINT, toy_note

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


def _demo_room(cam_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the demo stream's frame at ``cam_x`` and its true depth (its own ray caster)."""
    spec = importlib.util.spec_from_file_location('make_demo_stream',
                                                  ROOT / 'tools' / 'make_demo_stream.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(cam_x)


def test_its_depth_of_the_demo_room_looks_like_a_room() -> None:
    from depth_anything_ros.estimator import DepthEstimator

    bgr, truth = _demo_room(-0.6)   # the first frame of the bundled stream
    ok = np.isfinite(truth) & (truth > 0)
    scores = {}
    for checkpoint in (BUNDLED_CHECKPOINT, 'untrained:tiny'):
        est = DepthEstimator.from_config(checkpoint, mode='metric', input_size=196, device='cpu',
                                         backend='torch', precision='fp32', allow_untrained=True)
        depth = est.infer(bgr, 'bgr8')
        assert np.isfinite(depth).all()
        scores[checkpoint] = (float(np.mean(np.abs(depth[ok] - truth[ok]) / truth[ok])),
                              float(np.corrcoef(np.log(depth[ok]), np.log(truth[ok]))[0, 1]))
    (absrel, corr), (untrained_absrel, _) = scores.values()
    # metres of the right size and the right layout, from another ray caster than it trained on
    assert absrel < 0.4 and corr > 0.3
    assert absrel < 0.25 * untrained_absrel
    assert 'toy' in DepthEstimator.from_config(BUNDLED_CHECKPOINT, device='cpu').note


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
