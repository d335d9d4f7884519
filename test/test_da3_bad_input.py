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

"""Depth Anything 3 files given where they do not fit: one line naming the fix, never a trace.

A Depth Anything 3 file with a Depth Anything V2 encoder forced (and the reverse), and a
``model.safetensors`` without the ``config.json`` that names its network, through a command
(exit 2, ``depth-anything-ros CMD: error: ...``) and the node (start-up refused in one line).
Small configurations with deterministic weights stand in for the published files.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.commands import cli

RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']


@pytest.fixture(scope='module')
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Weight files as users have them: published layouts with and without config.json."""
    from safetensors.torch import save_file

    from depth_anything_ros.model import ModelConfig, untrained_model
    from depth_anything_ros.models.loading import load_model
    root = tmp_path_factory.mktemp('weights')
    out = {}
    da3 = load_model('untrained:da3-tiny', allow_untrained=True).state_dict()
    for name, config in (('published', True), ('no_config', False)):
        folder = root / name
        folder.mkdir()
        save_file({k: v.contiguous() for k, v in da3.items()}, str(folder / 'model.safetensors'))
        if config:
            (folder / 'config.json').write_text(json.dumps({'model_name': 'da3-tiny'}))
        out[name] = folder / 'model.safetensors'
    # A monocular ViT-L file without its config.json: da3mono-large and da3metric-large have
    # the same shapes, so only the name can tell them apart (the first tensor is enough to
    # reach that question; the full 334 M parameters are not needed for it).
    mono = root / 'mono'
    mono.mkdir()
    save_file({'model.backbone.pretrained.pos_embed': torch.zeros(1, 1370, 1024)},
              str(mono / 'model.safetensors'))
    out['mono_no_config'] = mono / 'model.safetensors'
    v2 = untrained_model(ModelConfig.tiny(), warn=False)
    out['v2'] = root / 'student.pth'
    torch.save(v2.state_dict(), out['v2'])
    return out


def _infer(tmp_path: Path, capsys: pytest.CaptureFixture, *flags: str) -> tuple[int, list[str]]:
    image = tmp_path / 'a.png'
    y, x = np.mgrid[0:60, 0:80]
    cv2.imwrite(str(image), np.stack([x * 3 % 256, y * 4 % 256, (x + y) % 256], -1)
                .astype(np.uint8))
    capsys.readouterr()
    rc = cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), *RUNTIME, *flags])
    captured = capsys.readouterr()
    return rc, captured.err.strip().splitlines()


def _one_line(lines: list[str], command: str = 'infer') -> str:
    assert len(lines) == 1, lines
    assert lines[0].startswith(f'depth-anything-ros {command}: error: '), lines
    return lines[0]


def test_a_da3_file_with_a_da_v2_encoder_is_one_line_naming_the_encoder(
        files, tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    rc, lines = _infer(tmp_path, capsys, '--checkpoint', str(files['published']),
                       '--encoder', 'vits')
    assert rc == 2
    line = _one_line(lines)
    # da3-tiny is no encoder choice (a small test configuration): auto takes it from the file
    assert "holds a da3-tiny model but encoder is 'vits'; set encoder:=auto" in line, line


def test_a_da_v2_file_with_a_da3_encoder_names_an_encoder_that_exists(
        files, tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    from depth_anything_ros.params import spec
    rc, lines = _infer(tmp_path, capsys, '--checkpoint', str(files['v2']),
                       '--encoder', 'da3-small')
    assert rc == 2
    line = _one_line(lines)
    assert 'holds a custom model' in line
    # the fix it names must be a value the encoder option takes (custom is none)
    fix = line.rsplit('encoder', 1)[1]
    assert 'custom' not in fix and 'auto' in fix, line
    assert 'auto' in spec('encoder').choices


def test_a_safetensors_without_config_json_names_the_file_to_write(
        files, tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    for key in ('no_config', 'mono_no_config'):
        rc, lines = _infer(tmp_path, capsys, '--checkpoint', str(files[key]))
        assert rc == 2, (key, lines)
        line = _one_line(lines)
        assert 'config.json' in line and '"model_name"' in line, line
        assert str(files[key].parent) in line
    # with the config.json it loads
    rc, lines = _infer(tmp_path, capsys, '--checkpoint', str(files['published']))
    assert rc == 0, lines


@pytest.mark.ros
@pytest.mark.parametrize(('key', 'params', 'expected'), [
    ('published', {'encoder': 'vits', 'mode': 'relative'}, 'encoder:=auto'),
    ('v2', {'encoder': 'da3-small', 'mode': 'relative'}, 'encoder:=auto'),
    ('mono_no_config', {'encoder': 'auto', 'mode': 'metric'}, '"model_name"'),
    ('published', {'encoder': 'auto', 'mode': 'metric'}, 'set mode:=relative'),
])
def test_the_node_refuses_to_start_in_one_line(files, spawn, tmp_path: Path, key: str,
                                                params: dict, expected: str) -> None:
    from ros_helpers.harness import log_of

    from depth_anything_ros.offline.node_process import node_arguments
    log = tmp_path / 'node.log'
    args = node_arguments({'checkpoint': str(files[key]), 'device': 'cpu', 'backend': 'torch',
                           'precision': 'fp32', 'input_size': 70, **params})
    proc = spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *args,
                 stdout=log.open('w'))
    assert proc.wait(timeout=120) == 1, log_of(log)
    text = log_of(log)
    failed = [line for line in text.splitlines() if 'start-up failed' in line]
    assert len(failed) == 1 and expected in failed[0], text
    assert 'Traceback' not in text
