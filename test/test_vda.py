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

"""Video Depth Anything: fidelity to the official code, strict loading, streams, commands.

The goldens (``test/data/vda_goldens.npz``, made by ``tools/make_vda_goldens.py`` with the
official code on the package's deterministic weights) hold the official network's output on
a clip of 8 frames and its streaming mode frame by frame (48 frames for the reduced-width
network, 14 for the official Small one); ``vda_state_dicts.json.gz`` every official network's
keys and shapes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.commands import cli
from depth_anything_ros.models import registry

DATA = Path(__file__).parent / 'data'
#: Largest difference allowed, relative to the largest golden value.
RELATIVE = 5e-5
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size', '42']


@pytest.fixture(scope='module')
def goldens() -> dict[str, np.ndarray]:
    with np.load(DATA / 'vda_goldens.npz', allow_pickle=False) as z:
        return dict(z)


@pytest.fixture(scope='module')
def tiny():
    from depth_anything_ros.models.loading import load_model
    return load_model('untrained:vda-tiny', allow_untrained=True)


@pytest.fixture(scope='module')
def small():
    from depth_anything_ros.models.loading import load_model
    return load_model('untrained:vda-small', allow_untrained=True)


def _inputs(frames: np.ndarray) -> torch.Tensor:
    """uint8 RGB [T,H,W,3] -> the official network input [T,3,H,W] (float32, normalised)."""
    x = (frames.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err <= RELATIVE, f'max difference {err:.2e} of the largest value'


def _bgr(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[..., ::-1])


# ---------------------------------------------------------------------------- the declaration
def test_the_family_declares_the_official_checkpoints_and_keeps_state() -> None:
    fam = registry.family('vda')
    assert fam.stateful and fam.backends == ('torch',)
    files = {c.name: (c.filename, c.licence, c.output, c.repo) for c in fam.checkpoints}
    assert files['vda-small'] == ('video_depth_anything_vits.pth', 'Apache-2.0', 'disparity',
                                  'depth-anything/Video-Depth-Anything-Small')
    assert files['vda-large'][:3] == ('video_depth_anything_vitl.pth', 'CC-BY-NC-4.0',
                                      'disparity')
    assert files['vda-small-metric'][:3] == ('metric_video_depth_anything_vits.pth',
                                             'Apache-2.0', 'metric')
    assert files['vda-base-metric'][1] == 'CC-BY-NC-4.0'
    assert registry.default_checkpoint('vda-large', 'metric', 'indoor') == 'vda-large-metric'
    assert registry.find_checkpoint('metric_video_depth_anything_vitb.pth')[1].name == \
        'vda-base-metric'


def test_our_networks_have_the_official_keys_and_shapes() -> None:
    from depth_anything_ros.models.vda.family import PARAMETERS
    from depth_anything_ros.models.vda.network import build_model
    with gzip.open(DATA / 'vda_state_dicts.json.gz', 'rt') as f:
        official = json.load(f)
    assert set(official) == {'vda-small', 'vda-base', 'vda-large'}
    for name, keys in official.items():
        for head in ('relative', 'metric'):
            ours = build_model(name, head, device='meta').state_dict()
            assert [[k, list(v.shape)] for k, v in ours.items()] == keys, (name, head)
        # parameters: every value but the fixed positional sinusoids (buffers)
        assert sum(int(np.prod(s)) for k, s in keys if not k.endswith('.pe')) == PARAMETERS[name]


# ---------------------------------------------------------------------------- fidelity
@pytest.mark.parametrize('name', ['vda-tiny', 'vda-small'])
@pytest.mark.parametrize('mode', ['no_grad', 'inference_mode'])
def test_a_clip_matches_the_official_forward(name: str, mode: str, goldens, request,
                                             one_torch_thread: None) -> None:
    model = request.getfixturevalue(name.split('-')[1])
    want = goldens[f'video_{name}']   # (T, H, W)
    x = _inputs(goldens['frames'][:len(want)]).unsqueeze(0)   # (1, T, 3, H, W)
    with getattr(torch, mode)():
        got = model.forward_video(x)[0].numpy()
    assert len(want) >= 8
    _close(got, want)


@pytest.mark.parametrize('name', ['vda-tiny', 'vda-small'])
@pytest.mark.parametrize('mode', ['no_grad', 'inference_mode'])
def test_streaming_matches_the_official_streaming_mode(name: str, mode: str, goldens,
                                                       request, one_torch_thread: None) -> None:
    model = request.getfixturevalue(name.split('-')[1])
    want = goldens[f'stream_{name}']   # (S, H/2, W/2): every second pixel
    x = _inputs(goldens['frames'][:len(want)])
    stream = model.new_stream()
    with getattr(torch, mode)():
        got = np.stack([model.forward_stream(x[k:k + 1], stream)[0].numpy()
                        for k in range(len(want))])
    assert len(want) >= 8 and stream.frames == len(want)
    _close(got[:, ::2, ::2], want)
    # the history matters: each frame alone is another output (after the first)
    with getattr(torch, mode)():
        alone = model(x[1:2])[0].numpy()
    assert np.abs(alone - got[1]).max() > 100 * RELATIVE * np.abs(got[1]).max()


def test_the_estimator_streams_each_camera_as_the_official_mode(
        tiny, goldens, one_torch_thread: None) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    est = DepthEstimator(tiny, device='cpu', input_size=42, exact=True)
    assert est.stateful and est.output == 'disparity'
    want = goldens['stream_vda-tiny'][:10]
    frames = [_bgr(f) for f in goldens['frames'][:10]]
    # two cameras, interleaved in batches: the second sees the clip backwards
    a, b = est.new_stream(), est.new_stream()
    got_a, got_b = [], []
    for k in range(10):
        ra, rb = est.estimate_batch([frames[k], frames[9 - k]], 'bgr8', streams=[a, b])
        got_a.append(ra.depth)
        got_b.append(rb.depth)
    _close(np.stack(got_a)[:, ::2, ::2], want)
    alone = DepthEstimator(tiny, device='cpu', input_size=42, exact=True).with_stream()
    back = [alone.infer(frames[9 - k]) for k in range(10)]
    np.testing.assert_array_equal(np.stack(got_b), np.stack(back))


# ---------------------------------------------------------------------------- streams
def test_reset_gives_the_output_of_a_fresh_stream(tiny, goldens, one_torch_thread: None) -> None:
    x = _inputs(goldens['frames'][:20])
    with torch.inference_mode():
        used = tiny.new_stream()
        for k in range(12):
            tiny.forward_stream(x[k:k + 1], used)
        assert used.frames == 12 and used.kept_frames == 12 and used.nbytes > 0
        used.reset('camera moved')
        assert (used.frames, used.resets, used.last_reset) == (0, 1, 'camera moved')
        fresh = tiny.new_stream()
        for k in range(12, 20):
            a = tiny.forward_stream(x[k:k + 1], used)
            b = tiny.forward_stream(x[k:k + 1], fresh)
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_new_input_size_resets_the_stream(tiny, goldens, one_torch_thread: None) -> None:
    x = _inputs(goldens['frames'][:4])
    stream = tiny.new_stream()
    with torch.inference_mode():
        for k in range(3):
            tiny.forward_stream(x[k:k + 1], stream)
        small = tiny.forward_stream(x[3:4, :, :28, :42], stream)
        first = tiny.forward_stream(x[3:4, :, :28, :42], tiny.new_stream())
    assert stream.resets == 1 and 'changed from 42x56 to 28x42' in stream.last_reset
    torch.testing.assert_close(small, first, rtol=0, atol=0)


def test_the_stream_keeps_at_most_the_official_42_frames(tiny, one_torch_thread: None) -> None:
    stream = tiny.new_stream()
    x = torch.zeros(1, 3, 28, 28)
    with torch.inference_mode():
        for _ in range(50):
            tiny.forward_stream(x, stream)
    assert stream.frames == 50 and len(stream._states) == 42 and stream.kept_frames == 42


def test_a_network_without_state_has_no_stream() -> None:
    from depth_anything_ros.errors import InvalidInputError
    from depth_anything_ros.estimator import DepthEstimator
    est = DepthEstimator(_da2_tiny(), device='cpu')
    assert not est.stateful
    with pytest.raises(InvalidInputError, match='Depth Anything V2 keeps no state'):
        est.new_stream()
    with pytest.raises(InvalidInputError, match='keeps no state'):
        est.estimate_batch([np.zeros((28, 28, 3), np.uint8)], streams=[object()])
    with pytest.raises(InvalidInputError, match='keeps no state'):
        est.with_stream()


def test_each_frame_needs_its_stream(tiny) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    est = DepthEstimator(tiny, device='cpu', input_size=42)
    frame = np.zeros((42, 56, 3), np.uint8)
    with pytest.raises(ValueError, match='2 images but 1 streams'):
        est.estimate_batch([frame, frame], streams=[est.new_stream()])


def _da2_tiny():
    from depth_anything_ros.models.loading import load_model
    return load_model('untrained:tiny', allow_untrained=True)


# ---------------------------------------------------------------------------- files
def test_official_files_load_strictly_by_name_and_by_keys(tiny, small, tmp_path: Path) -> None:
    from depth_anything_ros.models.loading import load_model
    sd = small.state_dict()
    for name, metric in (('video_depth_anything_vits.pth', False),
                         ('metric_video_depth_anything_vits.pth', True),
                         ('renamed.pth', False)):
        torch.save(sd, tmp_path / name)
        model = load_model(tmp_path / name)
        assert model.family == 'vda' and model.config.encoder == 'vda-small'
        assert model.is_metric is metric
        for k, v in model.state_dict().items():
            assert torch.equal(v, sd[k]), k
    assert load_model(tmp_path / 'video_depth_anything_vits.pth').licence == 'Apache-2.0'
    torch.save(tiny.state_dict(), tmp_path / 'tiny.pth')   # no name, no sidecar: the keys
    assert load_model(tmp_path / 'tiny.pth', head='metric').config.encoder == 'vda-tiny'
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, tmp_path / 'tiny.bin')
    back = load_model(tmp_path / 'tiny.bin')   # the format from the bytes, not the name
    assert back.family == 'vda' and not back.is_metric


def test_exported_models_keep_their_family_and_output(tiny, tmp_path: Path) -> None:
    from depth_anything_ros.models.loading import export_model, load_model
    from depth_anything_ros.models.vda.weights import untrained_model
    metric = untrained_model('vda-tiny', 'metric', warn=False)
    export_model(metric, tmp_path / 'm.pth')
    back = load_model(tmp_path / 'm.pth')
    assert back.family == 'vda' and back.is_metric and back.config == metric.config


@pytest.mark.parametrize('damage', ['missing', 'unexpected', 'truncated', 'da2'])
def test_a_wrong_file_is_one_clear_line(damage: str, small, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / 'video_depth_anything_vits.pth'
    sd = dict(small.state_dict())
    if damage == 'missing':
        del sd['head.motion_modules.2.temporal_transformer.proj_out.weight']
    elif damage == 'unexpected':
        sd['head.motion_modules.4.temporal_transformer.norm.weight'] = torch.ones(64)
    elif damage == 'da2':
        sd = _da2_tiny().state_dict()
    torch.save(sd, path)
    if damage == 'truncated':
        path.write_bytes(path.read_bytes()[:100_000])
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.zeros((28, 28, 3), np.uint8))
    rc = cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), '--checkpoint',
                   str(path), *RUNTIME])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith('depth-anything-ros infer: error: ')
    assert {'missing': 'missing keys: head.motion_modules.2.temporal_transformer.proj_out',
            'unexpected': 'unexpected keys: head.motion_modules.4.',
            'truncated': 'download it again',
            'da2': 'holds Depth Anything V2 weights, but its name says Video Depth Anything',
            }[damage] in err[0]


def test_a_metric_file_takes_no_max_depth(small, tmp_path: Path) -> None:
    from depth_anything_ros.errors import InvalidInputError
    from depth_anything_ros.models.loading import load_model
    torch.save(small.state_dict(), tmp_path / 'metric_video_depth_anything_vits.pth')
    with pytest.raises(InvalidInputError, match='has no max_depth'):
        load_model(tmp_path / 'metric_video_depth_anything_vits.pth', max_depth=20.0)


# ---------------------------------------------------------------------------- commands
def test_infer_runs_the_images_in_order_through_one_stream(tiny, goldens, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture,
                                                            one_torch_thread: None) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    frames = [_bgr(f) for f in goldens['frames'][:4]]
    for k, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'{k:03d}.png'), f)
    rc = cli.main(['infer', str(tmp_path), '--out', str(tmp_path / 'out'), '--checkpoint',
                   'untrained:vda-tiny', '--allow-untrained', *RUNTIME])
    assert rc == 0, capsys.readouterr()
    assert 'frames of one video' in capsys.readouterr().out
    est = DepthEstimator(tiny, device='cpu', backend='torch', input_size=42).with_stream()
    for k, f in enumerate(frames):
        np.testing.assert_allclose(np.load(tmp_path / 'out' / f'{k:03d}.npy'), est.infer(f),
                                   rtol=1e-5, atol=1e-6)


def test_process_bag_runs_a_camera_through_one_stream(tiny, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture,
                                                       one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import read_bag, write_camera_bag

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 4, h=28, w=42)
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   'untrained:vda-tiny', '--allow-untrained', '--mode', 'relative',
                   '--temporal', 'vda',   # as the node's temporal parameter
                   *RUNTIME[:-1], '70', '--json'])   # the node's smallest input size
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)['processed'] == 4
    inputs = [image_to_array(m) for t, msgs in read_bag(src).items() if t.endswith('image_raw')
              for _, m in msgs]
    (written,) = [[image_to_array(m) for _, m in msgs]
                  for t, msgs in read_bag(tmp_path / 'out').items() if 'disparity' in t]
    est = DepthEstimator(tiny, device='cpu', backend='torch', input_size=70)
    streamed = est.with_stream()
    assert len(inputs) == len(written) == 4
    for k, (frame, disparity) in enumerate(zip(inputs, written)):
        want = streamed.infer(frame, 'rgb8')
        np.testing.assert_allclose(disparity, want, rtol=1e-5, atol=1e-6)
        if k:
            assert np.abs(est.infer(frame, 'rgb8') - want).max() > 1e-3
