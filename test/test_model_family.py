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

"""A new model family plugs in through the registry alone (docs/architecture.md, walkthrough).

The toy family lives in test/toy_family/ (its declaration and its implementation module, and
nothing else); registered here, it runs through ``infer``, ``process-bag`` and the node.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.commands import cli
from depth_anything_ros.models import registry

RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']


@pytest.fixture
def toy():
    """Register the toy family for one test (step 4 of the walkthrough)."""
    from toy_family.family import FAMILY
    registry.register_family(FAMILY)
    yield FAMILY
    registry.unregister_family(FAMILY.name)


@pytest.fixture
def toy_file(toy, tmp_path: Path) -> Path:
    """Return a toy checkpoint with its sidecar, as export_model writes every family's."""
    from depth_anything_ros.model import export_model, load_model
    model = load_model('untrained:toy8', allow_untrained=True)
    return export_model(model, tmp_path / 'weights' / 'toy.pth')


def test_the_registry_knows_the_family_by_encoder_sidecar_and_keys(toy, toy_file: Path) -> None:
    assert toy in registry.families() and registry.families()[0].name == 'da2'
    assert registry.family_for_checkpoint('untrained:toy8') is toy
    assert 'toy8' in registry.encoder_choices()
    meta = json.loads(toy_file.with_suffix('.json').read_text())
    assert (meta['family'], meta['encoder'], meta['head']) == ('toy', 'toy8', 'relative')
    assert registry.family_for_checkpoint(toy_file, meta=meta) is toy
    assert registry.family_for_keys(['toy.0.weight', 'toy.2.bias']) is toy
    assert registry.family_for_keys(['pretrained.cls_token']).name == 'da2'
    with pytest.raises(ValueError, match='reuses'):
        registry.register_family(registry.ModelFamily(name='toy2', title='clash',
                                                      implementation='x', encoders=('toy8',)))


def test_a_toy_checkpoint_loads_strictly_and_refuses_a_metric_mode(toy, toy_file: Path) -> None:
    from depth_anything_ros.estimator import load_checked_model
    from depth_anything_ros.model import CheckpointError, load_model
    model = load_model(toy_file)
    assert type(model).__name__ == 'ToyNet' and model.checkpoint_file == toy_file
    with pytest.raises(CheckpointError, match='relative disparity only'):
        load_checked_model(str(toy_file), mode='metric')
    import torch
    torch.save({'toy.0.weight': torch.zeros(8, 3, 3, 3), 'toy.9.bias': torch.zeros(1)},
               toy_file.parent / 'bad.pth')
    with pytest.raises(CheckpointError, match='missing'):
        load_model(toy_file.parent / 'bad.pth')


def test_the_toy_family_runs_through_infer(toy, toy_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture,
                                           one_torch_thread: None) -> None:
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.tile(np.arange(42, dtype=np.uint8)[None, :, None] * 6, (28, 1, 3)))
    depths = []
    for i, checkpoint in enumerate((
            ['--checkpoint', str(toy_file)],
            ['--checkpoint', 'untrained', '--encoder', 'toy8', '--allow-untrained'])):
        rc = cli.main(['infer', str(image), '--out', str(tmp_path / f'out{i}'), *checkpoint,
                       *RUNTIME])
        assert rc == 0, capsys.readouterr()
        depths.append(np.load(tmp_path / f'out{i}' / 'a.npy'))
    # the exported file holds the untrained toy weights: the same disparity both ways
    assert depths[0].shape == (28, 42) and depths[0].min() >= 0.0999 and depths[0].max() > 1
    np.testing.assert_array_equal(depths[0], depths[1])


def test_the_toy_family_runs_through_process_bag(toy, toy_file: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture,
                                                 one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import read_bag, write_camera_bag

    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=28, w=42)
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   str(toy_file), '--mode', 'relative', *RUNTIME, '--json'])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)['processed'] == 2
    written = {t: m for t, m in read_bag(tmp_path / 'out').items() if 'disparity' in t}
    (msgs,) = written.values()
    disparity = image_to_array(msgs[0][1])
    assert disparity.shape == (28, 42) and disparity.min() >= 0.0999


@pytest.mark.ros
def test_the_toy_family_runs_in_the_node(toy, toy_file: Path, harness_ctx,
                                         one_torch_thread: None) -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.ros.node import DepthNode
    params = {'checkpoint': str(toy_file), 'encoder': 'auto', 'mode': 'relative',
              'device': 'cpu', 'backend': 'torch', 'precision': 'fp32', 'input_size': 70}
    node = DepthNode(context=harness_ctx,
                     parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    sub = Node('toy_harness', context=harness_ctx)
    got: list = []
    sub.create_subscription(Image, 'disparity/image', got.append, 10)
    image_pub = sub.create_publisher(Image, 'image', qos_profile_sensor_data)
    info_pub = sub.create_publisher(CameraInfo, 'camera_info', qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=harness_ctx)
    executor.add_node(node)
    executor.add_node(sub)
    try:
        pixels = np.tile(np.arange(42, dtype=np.uint8)[None, :, None] * 6, (28, 1, 3))
        msg = Image(width=42, height=28, encoding='rgb8', step=42 * 3, data=pixels.tobytes())
        msg.header.frame_id = 'cam'
        info = CameraInfo(width=42, height=28, distortion_model='plumb_bob', d=[0.0] * 5,
                          k=[40.0, 0.0, 21.0, 0.0, 40.0, 14.0, 0.0, 0.0, 1.0],
                          r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                          p=[40.0, 0.0, 21.0, 0.0, 0.0, 40.0, 14.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        info.header.frame_id = 'cam'
        import time
        end = time.monotonic() + 60
        while not got and time.monotonic() < end:
            stamp = sub.get_clock().now().to_msg()
            msg.header.stamp = info.header.stamp = stamp
            info_pub.publish(info)
            image_pub.publish(msg)
            for _ in range(10):
                executor.spin_once(timeout_sec=0.05)
        assert got, 'the node published no disparity for the toy family'
        assert got[0].header.frame_id == 'cam'
        from depth_anything_ros.estimator import DepthEstimator
        expected = DepthEstimator.from_config(str(toy_file), mode='relative', device='cpu',
                                              backend='torch', precision='fp32',
                                              input_size=70).infer(pixels, 'rgb8')
        np.testing.assert_allclose(image_to_array(got[0]), expected, atol=1e-5)
    finally:
        node.stop_worker(5.0)
        executor.shutdown()
        node.destroy_node()
        sub.destroy_node()


def test_a_family_whose_input_policy_the_preprocessing_lacks_is_refused(toy) -> None:
    import dataclasses

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    from depth_anything_ros.models.registry import InputPolicy
    model = load_model('untrained:toy8', allow_untrained=True)
    registry.unregister_family('toy')
    registry.register_family(dataclasses.replace(toy, input=InputPolicy(multiple=16)))
    with pytest.raises(ValueError, match='extend depth_anything_ros/models/transforms.py'):
        DepthEstimator(model, device='cpu', backend='torch', precision='fp32')
    registry.unregister_family('toy')
    registry.register_family(dataclasses.replace(toy, input=InputPolicy(default_size=504)))
    DepthEstimator(model, device='cpu', backend='torch', precision='fp32')


def test_a_generic_published_file_name_is_found_by_its_folder(tmp_path: Path) -> None:
    from depth_anything_ros.models.hub import resolve_checkpoint
    fam = registry.ModelFamily(
        name='toyhub', title='toy', implementation='toy_family.network', encoders=('toyhub8',),
        checkpoints=(registry.Checkpoint('toyhub-small', 'toyhub8', 'disparity',
                                         'model.safetensors', 'Apache-2.0', 'you/toy',
                                         subdir='toyhub-small'),))
    registry.register_family(fam)
    try:
        # another family's (or nobody's) model.safetensors is not this checkpoint
        assert registry.find_checkpoint(tmp_path / 'model.safetensors') == (None, None)
        with pytest.raises(FileNotFoundError, match='toyhub-small/model.safetensors'):
            resolve_checkpoint('toyhub-small', tmp_path)
        (tmp_path / 'toyhub-small').mkdir()
        (tmp_path / 'toyhub-small' / 'model.safetensors').write_bytes(b'x')
        assert resolve_checkpoint('toyhub-small', tmp_path) == \
            tmp_path / 'toyhub-small' / 'model.safetensors'
    finally:
        registry.unregister_family('toyhub')


def test_an_installed_package_adds_its_family_through_an_entry_point(monkeypatch) -> None:
    class Entry:
        def load(self) -> None:
            from toy_family.family import FAMILY
            registry.register_family(FAMILY)

    def entry_points(group: str) -> list:
        return [Entry()] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, 'entry_points', entry_points)
    monkeypatch.setattr(registry, '_discovered', False)
    try:
        names = [f.name for f in registry.families()]
        assert names[0] == 'da2' and 'toy' in names
    finally:
        registry.unregister_family('toy')


def test_a_backend_or_precision_the_family_does_not_declare_is_refused(toy) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    model = load_model('untrained:toy8', allow_untrained=True)
    with pytest.raises(ValueError, match='run with precision fp32, not bf16'):
        DepthEstimator(model, device='cpu', backend='torch', precision='bf16')
    with pytest.raises(ValueError, match='run with backend torch, not onnxruntime'):
        DepthEstimator(model, device='cpu', backend='onnxruntime', precision='fp32')


def test_a_sidecar_names_the_family_even_when_the_file_name_is_another_familys(
        toy, toy_file: Path) -> None:
    from depth_anything_ros.model import load_model
    renamed = toy_file.with_name('vits.pth')   # a published Depth Anything V2 name
    toy_file.rename(renamed)
    toy_file.with_suffix('.json').rename(renamed.with_suffix('.json'))
    assert type(load_model(renamed)).__name__ == 'ToyNet'


def test_download_fetches_the_extra_files_into_the_checkpoints_folder(
        tmp_path: Path, monkeypatch) -> None:
    import sys
    import types

    from depth_anything_ros.models.hub import download
    calls = []

    def hf_hub_download(repo_id: str, filename: str, local_dir: str) -> str:
        calls.append((repo_id, filename, Path(local_dir)))
        return str(Path(local_dir) / filename)

    monkeypatch.setitem(sys.modules, 'huggingface_hub',
                        types.SimpleNamespace(hf_hub_download=hf_hub_download))
    fam = registry.ModelFamily(
        name='toyhub', title='toy', implementation='toy_family.network', encoders=('toyhub8',),
        checkpoints=(registry.Checkpoint('toyhub-small', 'toyhub8', 'disparity',
                                         'model.safetensors', 'Apache-2.0', 'you/toy',
                                         subdir='toyhub-small', extra_files=('config.json',)),))
    registry.register_family(fam)
    try:
        got = download('toyhub-small', tmp_path)
    finally:
        registry.unregister_family('toyhub')
    folder = tmp_path / 'toyhub-small'
    assert got == folder / 'model.safetensors'
    assert calls == [('you/toy', 'model.safetensors', folder), ('you/toy', 'config.json', folder)]


def test_the_model_table_says_where_each_runs_and_how_to_get_it() -> None:
    from depth_anything_ros.models.registry import checkpoints, markdown_table
    rows = {line.split('|')[1].split(',')[0].strip(' `'): line
            for line in markdown_table().splitlines()[2:]}
    for fam, c in checkpoints():
        cells = [cell.strip() for cell in rows[c.name].split('|')[1:-1]]
        assert cells[-2] == ('offline' if fam.offline else 'live, offline'), c.name
        assert cells[-1] == ('ships with the package' if c.bundled else 'not published'
                             if c.repo is None else f'`depth-anything-ros download {c.name}`')
    assert rows['marigold-depth-v1-1'].split('|')[-3].strip() == 'offline'
