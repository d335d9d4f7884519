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

"""The demo: bundled stream, cloud rendering, and a full run of the node over DDS."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest

from depth_anything_ros.offline.demo import DATA, read_stream, render_cloud, resolve_checkpoint


def test_bundled_stream_is_small_and_calibrated() -> None:
    size = sum(f.stat().st_size for f in DATA.iterdir())
    assert size < 1_000_000
    pairs = read_stream(DATA)
    assert len(pairs) >= 10
    jpeg, info = pairs[0]
    img = cv2.imdecode(np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (info.height, info.width, 3) == (240, 320, 3)
    assert info.k[0] > 0 and info.k[2] != info.width / 2        # a real, off-centre calibration
    assert jpeg.header.stamp == info.header.stamp and jpeg.header.frame_id
    assert len(read_stream(DATA, limit=3)) == 3


def test_render_cloud_puts_a_plane_in_view() -> None:
    v, u = np.mgrid[0:60, 0:80]
    points = np.stack([(u - 40) / 50.0 * 2.0, (v - 30) / 50.0 * 2.0, np.full(u.shape, 2.0)],
                      -1).reshape(-1, 3)
    points[0] = np.nan                                           # invalid points are skipped
    colours = np.full((points.shape[0], 3), (0, 200, 0), np.uint8)
    img = render_cloud(points, colours, size=(320, 240))
    green = (img[..., 1] == 200) & (img[..., 0] == 0)
    assert img.shape == (240, 320, 3) and 0.05 < green.mean() < 0.9
    ys, xs = np.nonzero(green)
    assert 80 < xs.mean() < 240 and 60 < ys.mean() < 180         # roughly centred
    assert (render_cloud(np.full((4, 3), np.nan), colours[:4]) == 30).all()   # background


def test_checkpoint_fallback(tmp_path: Path) -> None:
    # no official weights: the toy model that ships with the package, never untrained weights
    assert resolve_checkpoint('', str(tmp_path)) == ('rooms_tiny', False)
    assert resolve_checkpoint('untrained', str(tmp_path)) == ('untrained', True)
    assert resolve_checkpoint('/w/x.pth', '') == ('/w/x.pth', False)
    # an official metric_indoor_vits in the weights directory wins over the toy
    (tmp_path / 'depth_anything_v2_metric_hypersim_vits.pth').write_bytes(b'x')
    assert resolve_checkpoint('', str(tmp_path)) == ('metric_indoor_vits', False)


@pytest.mark.ros
@pytest.mark.slow
def test_demo_runs_the_node_and_writes_pictures(ros_domain: int, tmp_path: Path) -> None:
    out = tmp_path / 'demo'
    cmd = [sys.executable, '-m', 'depth_anything_ros.commands.cli', 'demo', '--out', str(out),
           '--frames', '3', '--input-size', '154', '--device', 'cpu',
           '--weights-dir', str(tmp_path / 'no_weights')]
    result = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    # the bundled toy model runs, and the demo says loudly what it is
    assert 'BUNDLED TOY MODEL' in result.stdout and 'stamp -> depth/image' in result.stdout
    assert 'not Depth Anything' in result.stdout
    depth = cv2.imread(str(out / 'depth.png'))
    cloud = cv2.imread(str(out / 'cloud.png'))
    assert depth.shape == (240, 640, 3) and cloud.shape == (480, 640, 3)
    assert len(np.unique(cloud.reshape(-1, 3), axis=0)) > 50     # a picture, not a blank
    summary = json.loads((out / 'latency.json').read_text())
    assert summary['untrained_weights'] is False and summary['frames'] == 3
    assert summary['checkpoint'] == 'rooms_tiny' and 'toy' in summary['toy_model']
    assert summary['image_size'] == [320, 240]
    assert summary['depth_latency_ms']['median'] > 0
    assert summary['node_inference_p50_ms'] > 0
    assert 'configuration:' in (out / 'node.log').read_text()
