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

"""DepthEstimator: official numerics end to end, fast-path bounds, encodings, batching, errors."""

from __future__ import annotations

import logging
from pathlib import Path
import sys
import types

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import build_model, export_model, ModelConfig, untrained_model
from depth_anything_ros.model.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    preprocess_exact,
    preprocess_fast,
    preprocess_fast_cpu,
    target_size,
)

DATA = Path(__file__).resolve().parent / 'data'
GOLDEN = np.load(DATA / 'model_goldens.npz', allow_pickle=False)
IMAGE = GOLDEN['image_bgr']  # (480, 640, 3) uint8 BGR


@pytest.fixture(scope='module')
def vits() -> torch.nn.Module:
    return untrained_model('vits', warn=False)


@pytest.fixture(scope='module')
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelConfig.tiny(), 'metric', max_depth=10.0)  # sigmoid: never 0
    return model.eval()


def test_target_size_follows_official_rule() -> None:
    cases = {(480, 640, 518): (518, 686), (640, 480, 518): (686, 518),
             (720, 1280, 518): (518, 924), (1080, 1920, 518): (518, 924),
             (375, 1242, 518): (518, 1722), (768, 1024, 518): (518, 686),
             (300, 300, 518): (518, 518), (480, 640, 364): (364, 490),
             (720, 1280, 364): (364, 644)}
    for (h, w, s), want in cases.items():
        assert target_size(h, w, s) == want, (h, w, s)


@pytest.mark.parametrize('size', [518, 364])
def test_exact_preprocessing_matches_official_input(size: int) -> None:
    x = preprocess_exact(IMAGE, 'bgr8', size)
    assert x.dtype == torch.float32 and x.shape == (1, 3, size, {518: 686, 364: 490}[size])
    np.testing.assert_allclose(x[..., ::4, ::4].numpy(), GOLDEN[f'input_{size}_stride4'],
                               rtol=0, atol=1e-6)


def test_fast_preprocessing_is_close_to_exact() -> None:
    exact = preprocess_exact(IMAGE, 'bgr8', 518)
    fast = preprocess_fast(torch.from_numpy(IMAGE)[None], 'bgr8', 518)  # device path
    fast_cpu = preprocess_fast_cpu(IMAGE, 'bgr8', 518)  # OpenCV float32 path
    assert fast.shape == fast_cpu.shape == exact.shape
    # float32 vs float64 bicubic with the same kernel (A=-0.75, half-pixel): rounding only.
    assert 0 < (fast - exact).abs().max().item() < 1e-4
    assert 0 < (fast_cpu - exact).abs().max().item() < 1e-4


def _in_encoding(bgr: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == 'mono8':
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    code = {'bgr8': None, 'rgb8': cv2.COLOR_BGR2RGB, 'bgra8': cv2.COLOR_BGR2BGRA,
            'rgba8': cv2.COLOR_BGR2RGBA}[encoding]
    return bgr.copy() if code is None else cv2.cvtColor(bgr, code)


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8'])
def test_fast_cpu_preprocessing_handles_every_encoding(encoding: str) -> None:
    image = _in_encoding(IMAGE[:97, :131], encoding)  # odd size: resize both ways
    exact = preprocess_exact(image, encoding, 266)
    fast_cpu = preprocess_fast_cpu(image, encoding, 266)
    device = preprocess_fast(torch.from_numpy(image.reshape(97, 131, -1))[None], encoding, 266)
    assert fast_cpu.shape == exact.shape == (1, 3, 266, 364)
    assert fast_cpu.dtype == torch.float32 and fast_cpu.is_contiguous()
    assert (fast_cpu - exact).abs().max().item() < 1e-4
    assert (fast_cpu - device).abs().max().item() < 1e-4
    if encoding == 'mono8':  # grey replicated, then normalised per channel
        grey = (fast_cpu[0] * torch.tensor(IMAGENET_STD)[:, None, None]
                + torch.tensor(IMAGENET_MEAN)[:, None, None])
        assert (grey[0] - grey[1]).abs().max().item() < 1e-5
    else:  # the same picture in any channel order gives the same input
        same = preprocess_fast_cpu(np.ascontiguousarray(IMAGE[:97, :131]), 'bgr8', 266)
        assert (fast_cpu - same).abs().max().item() < 1e-5
        assert (fast_cpu[:, [2, 1, 0]] - same).abs().max().item() > 0.1


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    """fp32 on Ampere and newer is TF32 in cuDNN convolutions unless exact turns it off.

    So plain fp32 gets a TF32-sized bound (10-bit mantissa inputs) and only ``exact`` the
    fp32 bounds (1e-3 against the official output, 1e-4 batch against single frame).
    """
    vits = untrained_model('vits', warn=False)  # its own copy: the estimator moves it
    ref = GOLDEN['depth_stride4']
    cases = [('fp32', False, 2e-2), ('fp16', False, 0.15)]
    from depth_anything_ros.backends.devices import cuda_bf16_native
    if cuda_bf16_native(torch.device('cuda')):
        cases.append(('bf16', False, 0.15))
    cases.append(('fp32', True, 1e-3))  # last: exact switches TF32 off process-wide
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        for precision, exact, atol in cases:
            est = DepthEstimator(vits, device='cuda', precision=precision, exact=exact)
            depth = est.infer(IMAGE)
            assert depth.shape == (480, 640) and depth.dtype == np.float32
            assert np.abs(depth[::4, ::4] - ref).max() < atol, (precision, exact)
            batch = est.infer_batch([IMAGE, IMAGE])
            np.testing.assert_allclose(batch[1], depth, rtol=0, atol=atol / 10)
        assert not torch.backends.cudnn.allow_tf32  # exact turned TF32 off
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


@pytest.mark.slow
def test_exact_infer_matches_official_at_518_364_and_square(vits: torch.nn.Module) -> None:
    est = DepthEstimator(vits, device='cpu', exact=True)
    depth = est.infer(IMAGE)
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    np.testing.assert_allclose(depth[::4, ::4], GOLDEN['depth_stride4'], rtol=0, atol=1e-4)
    assert set(est.last_timings) == {'preprocess_ms', 'forward_ms', 'postprocess_ms'}
    assert all(v >= 0 for v in est.last_timings.values())
    est.input_size = 364  # takes effect on the next frame
    np.testing.assert_allclose(est.infer(IMAGE)[::4, ::4], GOLDEN['depth_364_stride4'],
                               rtol=0, atol=1e-4)
    est.input_size = 518
    square = est.infer(np.ascontiguousarray(IMAGE[:, 80:560]))  # 518x518: no pos interp
    np.testing.assert_allclose(square[::4, ::4], GOLDEN['depth_square_518_stride4'], rtol=0,
                               atol=1e-4)


@pytest.mark.slow
def test_fast_and_bf16_paths_stay_within_documented_bounds(vits: torch.nn.Module) -> None:
    ref = GOLDEN['depth_stride4']  # official fp32, range ~0.18..5.2
    fast = DepthEstimator(vits, device='cpu', exact=False).infer(IMAGE)[::4, ::4]
    assert np.abs(fast - ref).max() < 1e-4  # measured 1.4e-5
    bf16 = DepthEstimator(vits, device='cpu', precision='bf16').infer(IMAGE)[::4, ::4]
    rel = np.abs(bf16 - ref) / ref
    # measured: max abs 5.5e-2, median rel 3.0e-3, p99 rel 1.7e-2 (docs/model.md)
    assert np.abs(bf16 - ref).max() < 0.15
    assert np.median(rel) < 1e-2 and np.percentile(rel, 99) < 5e-2
    assert np.abs(bf16 - ref).max() > 0  # really ran in reduced precision


@pytest.mark.parametrize('exact', [False, True])
@pytest.mark.slow
def test_every_encoding_gives_the_same_depth(tiny: torch.nn.Module, exact: bool) -> None:
    est = DepthEstimator(tiny, device='cpu', exact=exact, input_size=98)
    bgr = IMAGE[::4, ::4].copy()  # (120, 160, 3)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    alpha = np.full(bgr.shape[:2] + (1,), 77, np.uint8)
    ref = est.infer(bgr, 'bgr8')
    assert ref.shape == (120, 160)
    np.testing.assert_allclose(est.infer(rgb, 'rgb8'), ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(est.infer(bgr[:, :, ::-1], 'rgb8'), ref, rtol=0, atol=1e-6)
    readonly = bgr.copy()
    readonly.flags.writeable = False  # as np.frombuffer gives for ROS message data
    np.testing.assert_allclose(est.infer(readonly, 'bgr8'), ref, rtol=0, atol=0)
    np.testing.assert_allclose(est.infer(np.concatenate([bgr, alpha], 2), 'bgra8'), ref,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(est.infer(np.concatenate([rgb, alpha], 2), 'rgba8'), ref,
                               rtol=0, atol=1e-6)
    gray = bgr[:, :, 1].copy()
    mono = est.infer(gray, 'mono8')
    np.testing.assert_allclose(est.infer(gray[:, :, None], 'mono8'), mono, rtol=0, atol=0)
    np.testing.assert_allclose(est.infer(np.repeat(gray[:, :, None], 3, 2), 'bgr8'), mono,
                               rtol=0, atol=1e-6)
    assert not np.allclose(mono, ref)  # colour matters: channel order is really applied


def test_batch_equals_single_and_keeps_order(tiny: torch.nn.Module) -> None:
    est = DepthEstimator(tiny, device='cpu', input_size=70)
    a, b = IMAGE[::4, ::4].copy(), IMAGE[::5, ::3].copy()
    c = np.ascontiguousarray(a[::-1])
    out = est.infer_batch([a, b, c])
    assert [o.shape for o in out] == [a.shape[:2], b.shape[:2], c.shape[:2]]
    for img, got in zip((a, b, c), out):
        np.testing.assert_allclose(got, est.infer(img), rtol=0, atol=1e-5)
    assert est.infer_batch([]) == []


def test_metric_flags_and_runtime_input_size(tiny: torch.nn.Module) -> None:
    est = DepthEstimator(tiny, device='cpu', input_size=42)
    assert est.is_metric and est.max_depth == 10.0 and est.config.encoder == 'tiny'
    assert est.device == torch.device('cpu') and est.precision == 'fp32'
    assert est.network_size(120, 160) == (42, 56)
    depth = est.infer(IMAGE[::4, ::4].copy())
    assert (depth > 0).all() and (depth < 10.0).all()
    est.input_size = 56
    assert est.network_size(120, 160) == (56, 70)
    rel = DepthEstimator(untrained_model(ModelConfig.tiny(), warn=False), device='cpu')
    assert not rel.is_metric and rel.max_depth is None


@pytest.mark.parametrize('image, encoding, match', [
    (np.zeros((0, 5, 3), np.uint8), 'bgr8', 'empty'),
    (np.zeros((8, 8, 3), np.float32), 'bgr8', 'uint8'),
    (np.full((8, 8, 3), np.nan, np.float32), 'bgr8', 'NaN'),
    (np.zeros((8, 8, 3), np.uint16), 'bgr8', 'uint8'),
    (np.zeros((8, 8, 4), np.uint8), 'bgr8', 'HxWx3'),
    (np.zeros((8, 8), np.uint8), 'rgb8', 'HxWx3'),
    (np.zeros((8, 8, 3), np.uint8), 'mono8', 'HxWx1'),
    (np.zeros((8, 8, 3), np.uint8), 'yuv422', 'unsupported encoding'),
    (np.zeros((1, 8, 3), np.uint8), 'bgr8', 'too small'),
    ([[1, 2], [3, 4]], 'mono8', 'numpy array'),
])
def test_bad_images_are_rejected_with_a_reason(tiny: torch.nn.Module, image: object,
                                                encoding: str, match: str) -> None:
    est = DepthEstimator(tiny, device='cpu', input_size=42)
    with pytest.raises(ValueError, match=match):
        est.infer(image, encoding)  # type: ignore[arg-type]


def test_bad_settings_are_rejected(tiny: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match='multiple of 14'):
        DepthEstimator(tiny, device='cpu', input_size=500)
    est = DepthEstimator(tiny, device='cpu', input_size=42)
    with pytest.raises(ValueError, match='use 504 or 518'):
        est.input_size = 510
    assert est.input_size == 42
    with pytest.raises(ValueError, match='fp16.*CUDA'):
        DepthEstimator(tiny, device='cpu', precision='fp16')
    with pytest.raises(ValueError, match='precision'):
        DepthEstimator(tiny, device='cpu', precision='int4')
    with pytest.raises(ValueError, match='device'):
        DepthEstimator(tiny, device='tpu')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='CUDA is not available'):
            DepthEstimator(tiny, device='cuda:0')
    with pytest.raises(ValueError, match='backend'):
        DepthEstimator(tiny, device='cpu', backend='tflite')


@pytest.mark.slow
def test_backend_hook_shares_pre_and_postprocessing(tiny: torch.nn.Module, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def make_runner(backend: str, model: object, *, device: torch.device, precision: str,
                    **options: object):
        calls.append((backend, model, device, precision))

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return tiny(x)  # stands in for an exported engine
        return run

    fake = types.ModuleType('depth_anything_ros.backends')
    fake.make_runner = make_runner  # type: ignore[attr-defined]
    fake.available_backends = lambda names=None: list(names or [])  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, 'depth_anything_ros.backends', fake)
    img = IMAGE[::4, ::4].copy()
    ref = DepthEstimator(tiny, device='cpu', input_size=42).infer(img)
    est = DepthEstimator(tiny, device='cpu', input_size=42, backend='openvino')
    np.testing.assert_allclose(est.infer(img), ref, rtol=0, atol=1e-6)
    assert calls[-1][0] == 'openvino' and calls[-1][2] == torch.device('cpu')
    # An exported file: metadata comes from its sidecar.
    onnx = tmp_path / 'tiny.onnx'
    onnx.write_bytes(b'stand-in')
    with pytest.raises(ValueError, match='sidecar'):
        DepthEstimator(onnx, device='cpu', backend='onnxruntime')
    export_model(tiny, tmp_path / 'tiny.pth')  # writes tiny.json, shared by tiny.onnx
    est = DepthEstimator(onnx, device='cpu', backend='onnxruntime', input_size=42)
    assert calls[-1][1] == onnx and est.is_metric and est.max_depth == 10.0
    np.testing.assert_allclose(est.infer(img), ref, rtol=0, atol=1e-6)


def test_a_runtime_that_is_not_installed_is_refused_with_the_install_hint(
        tiny: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.backends import select
    monkeypatch.setattr(select, 'installed_backends', lambda names=None: ['torch'])
    with pytest.raises(ValueError, match="backend 'openvino' is not installed here; pip install "
                                         'openvino, or set backend auto'):
        DepthEstimator(tiny, device='cpu', backend='openvino')


def test_untrained_warning_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        untrained_model(ModelConfig.tiny())
    assert 'UNTRAINED' in caplog.text


def test_from_config_checks_the_checkpoint_against_encoder_and_mode(tmp_path: Path) -> None:
    metric = untrained_model(ModelConfig.tiny(), 'metric', 10.0, warn=False)
    path = export_model(metric, tmp_path / 'metric.pth')
    est = DepthEstimator.from_config(path, encoder='auto', mode='metric', device='cpu',
                                     precision='fp32', backend='torch', input_size=70)
    assert est.is_metric and est.max_depth == 10.0 and est.config.encoder == 'tiny'
    # tiny is no encoder choice (a test configuration): auto takes what the file holds
    with pytest.raises(ValueError, match="holds a tiny model but encoder is 'vits'; set "
                       'encoder:=auto'):
        DepthEstimator.from_config(path, encoder='vits', device='cpu')
    with pytest.raises(ValueError, match='is a metric .* checkpoint, but head=.relative.'):
        DepthEstimator.from_config(path, mode='relative', device='cpu')


def test_from_config_checks_an_exported_file_by_its_sidecar(tmp_path: Path) -> None:
    pytest.importorskip('openvino')
    from depth_anything_ros.backends.onnx_export import export_openvino
    metric = untrained_model(ModelConfig.tiny(), 'metric', 10.0, warn=False)
    path = export_openvino(metric, tmp_path / 'cam.xml', height=70, width=84)
    with pytest.raises(ValueError, match="is a metric model but mode is 'relative'; set "
                       'mode:=metric'):
        DepthEstimator.from_config(path, mode='relative', device='cpu', backend='openvino',
                                   precision='fp32', input_size=70)


def test_from_config_builds_untrained_weights_of_the_encoder_asked_for() -> None:
    with pytest.raises(ValueError, match='allow_untrained'):
        DepthEstimator.from_config('untrained', encoder='tiny', device='cpu')
    est = DepthEstimator.from_config('untrained', encoder='tiny', mode='metric',
                                     default_max_depth=20.0, allow_untrained=True, device='cpu',
                                     precision='fp32', backend='torch', input_size=70)
    assert est.config.encoder == 'tiny' and est.max_depth == 20.0
