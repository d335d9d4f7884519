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

"""Prompt Depth Anything and Depth Pro's focal length, through the per-camera stage.

Prompt Depth Anything runs the library's own network (a tiny one from its config class, saved
with ``save_pretrained``); with a prompt our depth equals the library's processor, model and
``post_process_depth_estimation`` within 1e-5. Prompts come from the anchors
(core/prompt.py): projected, densified, and a frame without one falls back to the configured
alignment, counted. Depth Pro gets the camera's focal length where there is one and otherwise
publishes the one it estimates.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import numpy as np
import pytest

from depth_anything_ros.core import prompt as prompts
from depth_anything_ros.core.camera_stage import Calibration, CameraStage, Frame
from depth_anything_ros.core.pipeline import Wanted
from depth_anything_ros.params import validate

K = np.array([[40.0, 0.0, 21.5], [0.0, 40.0, 14.5], [0.0, 0.0, 1.0]])
H, W = 30, 44


# ---------------------------------------------------------------------------- prompts (numpy)
def test_points_land_on_their_prompt_cell_and_the_nearest_wins() -> None:
    grid = (15, 22)   # half the frame
    # pixel (u, v) = (10, 6) of the frame at 2 m and 3 m: cell (5, 3) of the half grid
    ray = np.linalg.solve(K, [10.0, 6.0, 1.0])
    sparse = prompts.points_prompt(np.stack([ray * 3.0, ray * 2.0]), K, (H, W), grid)
    assert sparse.shape == grid and sparse.dtype == np.float32
    assert sparse[3, 5] == pytest.approx(2.0, rel=1e-6)
    assert np.count_nonzero(sparse) == 1
    # behind the camera or outside the frame: nothing
    assert not prompts.points_prompt(np.array([[0, 0, -1.0], [100.0, 0, 1.0]]), K, (H, W),
                                     grid).any()


def test_a_registered_depth_image_becomes_the_same_view_at_the_prompt_grid() -> None:
    depth = np.full((H, W), 2.5, np.float32)
    sparse = prompts.depth_prompt(depth, None, K, (H, W), (15, 22))
    assert sparse.shape == (15, 22) and np.allclose(sparse[sparse > 0], 2.5)
    assert np.count_nonzero(sparse) > 0.9 * sparse.size


def test_prompt_shape_keeps_the_aspect_with_the_long_side_bounded() -> None:
    assert prompts.prompt_shape(480, 640) == (192, 256)
    assert prompts.prompt_shape(30, 44) == (30, 44)   # never upsampled


def test_densify_nearest_only_uses_measured_depths() -> None:
    sparse = np.zeros((20, 30), np.float32)
    sparse[2, 3], sparse[15, 25] = 1.0, 4.0
    dense = prompts.densify(sparse, 'nearest')
    assert set(np.unique(dense)) == {1.0, 4.0}
    assert dense[0, 0] == 1.0 and dense[19, 29] == 4.0
    smooth = prompts.densify(sparse, 'smooth')
    # a weighted mean of measurements everywhere (Telea inpainting went below zero here)
    assert smooth.min() >= 1.0 - 1e-6 and smooth.max() <= 4.0 + 1e-6
    assert smooth[2, 3] == 1.0 and smooth[15, 25] == 4.0   # measured cells kept
    assert len(np.unique(smooth)) > 20   # smooth between the two
    np.testing.assert_array_equal(prompts.densify(sparse, 'none'), sparse)
    with pytest.raises(ValueError, match='densify must be one of'):
        prompts.densify(sparse, 'cubic')
    with pytest.raises(ValueError, match='no measured cell'):
        prompts.densify(np.zeros((4, 4)), 'nearest')


def test_the_densify_benchmark_runs_on_a_tiny_setting(tmp_path: Path) -> None:
    import subprocess
    import sys
    out = tmp_path / 'bench.json'
    done = subprocess.run([sys.executable, 'benchmarks/bench_prompt.py', '--tiny', '--json',
                           str(out)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())['rows']
    methods = {r['densify'] for r in rows}
    assert methods == set(prompts.DENSIFY)
    assert len({r['sparsity'] for r in rows}) >= 2
    for r in rows:
        assert np.isfinite(r['prompt_absrel']) and r['prompt_absrel'] >= 0


# ---------------------------------------------------------------------------- the library
transformers = pytest.importorskip('transformers')
torch = pytest.importorskip('torch')

from depth_anything_ros.estimator import DepthEstimator  # noqa: E402
from depth_anything_ros.model import CheckpointError, load_model  # noqa: E402


def library_model():
    """Return the tiny library network: its class and config, all weights random."""
    from depth_anything_ros.models.prompt_depth_anything import network
    config, _ = network.tiny(transformers)
    torch.manual_seed(5)
    model = transformers.PromptDepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model


def save_folder(folder: Path) -> Path:
    """Save the tiny network and its image processor as save_pretrained writes them."""
    from depth_anything_ros.models.prompt_depth_anything import network
    library_model().save_pretrained(folder)
    network.tiny(transformers)[1].save_pretrained(folder)
    return folder


@pytest.fixture(scope='module')
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_folder(tmp_path_factory.mktemp('pda') / 'prompt_depth_anything')


@pytest.fixture(scope='module')
def depth_pro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_hf_families import save_folder as save_hf
    return save_hf('depth_pro', tmp_path_factory.mktemp('dp') / 'depth_pro')


def frame(h: int = H, w: int = W) -> np.ndarray:
    from test_hf_families import frame as textured
    return textured(h, w)


def estimator(folder: Path) -> DepthEstimator:
    return DepthEstimator(load_model(folder), device='cpu', backend='torch', precision='fp32')


def test_prompted_depth_equals_the_librarys_processor_model_and_post_processing(
        folder: Path, one_torch_thread: None) -> None:
    image = frame()
    prompt = (1.0 + 3.0 * np.random.default_rng(2).random((12, 17))).astype(np.float32)
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.PromptDepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    inputs = processor(images=[image], prompt_depth=[prompt], prompt_scale_to_meter=1.0,
                       return_tensors='pt')
    with torch.no_grad():
        outputs = model(**inputs)
    expected = processor.post_process_depth_estimation(
        outputs, target_sizes=[image.shape[:2]])[0]['predicted_depth'].numpy()
    est = estimator(folder)
    assert est.takes_prompt and est.is_metric
    (got,) = est.estimate_batch([image], 'rgb8', prompts=[prompt])
    assert got.output is None and got.depth.shape == image.shape[:2]
    np.testing.assert_allclose(got.depth, expected, rtol=1e-5)
    assert np.ptp(got.depth) > 0
    # the prompt matters: another prompt, other metres
    (other,) = est.estimate_batch([image], 'rgb8', prompts=[prompt * 2.0])
    assert np.abs(other.depth - got.depth).max() > 1e-3
    # unprompted: the library's own output too, but relative depth, said so
    with torch.no_grad():
        plain = model(pixel_values=inputs['pixel_values'])
    expected = processor.post_process_depth_estimation(
        plain, target_sizes=[image.shape[:2]])[0]['predicted_depth'].numpy()
    (bare,) = est.estimate_batch([image], 'rgb8')
    assert bare.output == 'depth'
    np.testing.assert_allclose(bare.depth, expected, rtol=1e-5)
    # ... which is the library's depth-estimation pipeline's (it takes no prompt)
    from PIL import Image
    pipe = transformers.pipeline('depth-estimation', model=str(folder), device='cpu')
    piped = pipe(Image.fromarray(image))['predicted_depth'].numpy()
    np.testing.assert_allclose(bare.depth, piped, rtol=1e-5)


def test_a_constant_prompt_is_handled_as_the_processor_does(folder: Path,
                                                            one_torch_thread: None) -> None:
    image = frame()
    prompt = np.full((8, 12), 2.0, np.float32)
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.PromptDepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    inputs = processor(images=[image], prompt_depth=[prompt], prompt_scale_to_meter=1.0,
                       return_tensors='pt')
    with torch.no_grad():
        expected = processor.post_process_depth_estimation(
            model(**inputs), target_sizes=[image.shape[:2]])[0]['predicted_depth'].numpy()
    (got,) = estimator(folder).estimate_batch([image], 'rgb8', prompts=[prompt])
    assert np.isfinite(got.depth).all()
    np.testing.assert_allclose(got.depth, expected, rtol=1e-5)


def test_the_family_is_read_from_the_folder_and_known_by_name(folder: Path,
                                                              tmp_path: Path) -> None:
    model = load_model(folder)
    assert model.family == 'prompt_depth_anything' and model.config.encoder == 'promptda'
    from depth_anything_ros.models.registry import find_checkpoint
    for size in ('vits', 'vitl'):
        _, ckpt = find_checkpoint(f'prompt-depth-anything-{size}')
        assert ckpt.repo == f'depth-anything/prompt-depth-anything-{size}-hf'
        assert ckpt.licence == 'Apache-2.0' and ckpt.output == 'metric'
    shutil.copytree(folder, tmp_path / 'prompt-depth-anything-vits')
    model = load_model('prompt-depth-anything-vits', weights_dir=tmp_path)
    assert model.family == 'prompt_depth_anything'


def test_a_corrupt_or_mismatched_folder_is_one_clear_error(folder: Path, depth_pro: Path,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / 'bad'
    shutil.copytree(folder, bad)
    shutil.copy(depth_pro / 'model.safetensors', bad / 'model.safetensors')
    with pytest.raises(CheckpointError, match='do not fit its config.json') as err:
        load_model(bad)
    assert '\n' not in str(err.value)
    (bad / 'model.safetensors').write_bytes(b'\0' * 64)
    with pytest.raises(CheckpointError,
                       match='not a readable PromptDepthAnythingForDepthEstimation folder'):
        load_model(bad)


def test_download_list_names_the_official_ids_and_licences(capsys) -> None:
    from depth_anything_ros.commands import cli
    assert cli.main(['download', '--list']) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if 'prompt-depth-anything-' in line]
    assert len(lines) == 2 and all('Apache-2.0' in line for line in lines)


@pytest.mark.parametrize('command', ['infer', 'eval', 'pseudo-label'])
def test_commands_without_a_prompt_refuse_it_in_one_line(
        command: str, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        one_torch_thread: None) -> None:
    """A plain image has no prompt: its relative output is never written as metres."""
    import cv2

    from depth_anything_ros.commands import cli
    from depth_anything_ros.training.datasets import GenericWriter
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.png'), frame())
    writer = GenericWriter(tmp_path / 'data', depth_scale=1e-3)
    writer.add('ramp', frame(), np.full((H, W), 2.0, np.float32), 'val')
    writer.close()
    argv = {'infer': ['infer', str(tmp_path / 'images' / 'a.png'), '--out',
                      str(tmp_path / 'out'), '--checkpoint', str(folder), '--device', 'cpu'],
            'eval': ['eval', '--checkpoint', str(folder), '--data', str(tmp_path / 'data'),
                     '--out', str(tmp_path / 'out.json'), '--device', 'cpu',
                     '--eval-max-depth', '10'],
            'pseudo-label': ['pseudo-label', '--teacher', str(folder), '--inputs',
                             str(tmp_path / 'images'), '--out', str(tmp_path / 'labels'),
                             '--device', 'cpu', '--no-progress']}[command]
    rc = cli.main(argv)
    captured = capsys.readouterr()
    said = [line for line in (captured.out + captured.err).splitlines()
            if 'metric prompt' in line]
    assert rc == 2, captured
    assert len(said) == 1 and 'alignment lidar' in said[0]
    assert 'Traceback' not in captured.out + captured.err
    assert not list(tmp_path.glob('out/*.npy')) and not (tmp_path / 'out.json').exists()


# ---------------------------------------------------------------------------- the stage
def _lidar(depth_m: float, stride: int = 4) -> np.ndarray:
    """Points at ``depth_m`` along every ``stride``-th pixel's ray (camera optical frame)."""
    v, u = np.mgrid[0:H:stride, 0:W:stride]
    rays = np.linalg.solve(K, np.stack([u.ravel(), v.ravel(), np.ones(u.size)])).T
    return rays * depth_m


def _stage(est, **params) -> CameraStage:
    cfg = validate({'mode': 'metric', 'device': 'cpu', 'backend': 'torch',
                    'precision': 'fp32', **params})
    return CameraStage(est, cfg)


def test_the_stage_prompts_with_the_paired_points_and_falls_back_without(
        folder: Path, one_torch_thread: None) -> None:
    est = estimator(folder)
    stage = _stage(est, alignment='lidar', anchor_slop=0.05, max_depth=100.0)
    stage.add_camera_info(0, Calibration.from_intrinsics(40.0, 40.0, 21.5, 14.5, W, H))
    stage.add_anchor_points(1_000_000_000, np.vstack([_lidar(3.0), _lidar(6.0, 7)]))
    image = frame()
    wanted = Wanted(image=True, info=True, points=True)
    out = stage.process(Frame(image, 'rgb8', 1_000_000_000), wanted)
    assert out.depth is not None and np.isfinite(out.depth).any()
    # equal to the network prompted with the densified projection of the same points
    sparse = prompts.points_prompt(np.vstack([_lidar(3.0), _lidar(6.0, 7)]), K, (H, W),
                                   prompts.prompt_shape(H, W))
    (expected,) = est.estimate_batch([image], 'rgb8',
                                     prompts=[prompts.densify(sparse, 'nearest')])
    np.testing.assert_allclose(out.depth, expected.depth, rtol=1e-5)
    assert stage.status()['prompt_frames'] == '1' and stage.status()['prompt_missing'] == '0'
    # a frame 1 s later has no anchor within the slop: relative depth through the alignment,
    # which has no fit either: no metric depth (never a guess), counted with its reason
    out = stage.process(Frame(image, 'rgb8', 2_000_000_000), wanted)
    assert out.depth is None and out.cloud is None
    status = stage.status()
    assert status['prompt_missing'] == '1' and 'no anchor stamped within 0.05 s' in \
        status['prompt_last_missing']
    assert stage.aligner.status()['alignment_unpaired'] == '1'


def test_depth_pro_uses_the_cameras_focal_and_publishes_its_estimate_without(
        depth_pro: Path, one_torch_thread: None) -> None:
    est = estimator(depth_pro)
    image = frame()
    wanted = Wanted(image=True, info=True, points=True)
    # without camera_info or fx/fy: the estimate becomes the published camera model
    stage = _stage(est, max_depth=1000.0)
    out = stage.process(Frame(image, 'rgb8', 1), wanted)
    (plain,) = est.estimate_batch([image], 'rgb8')
    assert plain.focal_estimated and 20 < plain.focal_px < 80
    assert out.camera is not None
    assert out.camera.intrinsics.fx == pytest.approx(plain.focal_px, rel=1e-6)
    assert out.camera.intrinsics.fy == pytest.approx(plain.focal_px, rel=1e-6)
    assert (out.camera.intrinsics.cx, out.camera.intrinsics.cy) == ((W - 1) / 2, (H - 1) / 2)
    assert out.cloud is not None and np.isfinite(out.cloud['z']).any()
    status = stage.status()
    assert status['focal_source'] == 'estimated' and status['focal_estimated'] == 'true'
    assert float(status['focal_px']) == pytest.approx(plain.focal_px, rel=1e-5)
    # with a calibration: its K is kept and the metres follow its focal length
    stage = _stage(est, max_depth=1000.0, fx=2 * plain.focal_px, fy=2 * plain.focal_px,
                   cx=20.0, cy=15.0, calib_width=W, calib_height=H)
    known = stage.process(Frame(image, 'rgb8', 1), wanted)
    assert known.camera.intrinsics.fx == pytest.approx(2 * plain.focal_px)
    assert known.camera.intrinsics.cx == 20.0
    inside = np.isfinite(out.depth) & np.isfinite(known.depth)
    np.testing.assert_allclose(known.depth[inside], 2 * out.depth[inside], rtol=1e-4)
    assert stage.status()['focal_source'] == 'parameters'
    assert stage.status()['focal_estimated'] == 'false'


def test_process_bag_prompts_with_the_bags_lidar_points(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        one_torch_thread: None) -> None:
    """Offline as live: the bag's anchor points are the prompt; frames without fall back."""
    pytest.importorskip('rosbags')
    from ros_helpers.bags import IMAGE_TOPIC, read_bag, write_camera_bag
    from ros_helpers.harness import stamp_ns
    from test_process_bag import _copy_with, _out, _points_along_rays

    from depth_anything_ros.commands import cli
    from depth_anything_ros.ros import topics
    from depth_anything_ros.ros.conversions import cloud_xyz, image_to_array
    h, w = 28, 42
    plain = write_camera_bag(tmp_path / 'plain', 3, h=h, w=w)
    f = 0.8 * w                                               # write_camera_bag's camera
    k = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    truth = np.tile(np.linspace(2.0, 5.0, w, dtype=np.float32), (h, 1))
    images = read_bag(plain)[IMAGE_TOPIC]
    clouds = [(t - 500_000, _points_along_rays(truth, k, image.header))
              for t, image in images[:2]]                     # the last frame has none
    _copy_with(plain, tmp_path / 'lidar', {_out(topics.ANCHOR_POINTS): clouds})
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    alignment: lidar\n    max_depth: 1000.0\n'
                      '    min_depth: 0.0\n    alignment_hold: 0.0\n')
    rc = cli.main(['process-bag', str(tmp_path / 'lidar'), '--out', str(tmp_path / 'out'),
                   '--checkpoint', str(folder), '--mode', 'metric', '--device', 'cpu',
                   '--backend', 'torch', '--precision', 'fp32', '--params-file', str(params)])
    assert rc == 0, capsys.readouterr()
    depths = read_bag(tmp_path / 'out')[_out(topics.DEPTH_IMAGE)]
    assert [stamp_ns(m.header) for _, m in depths] == [stamp_ns(i.header) for _, i in images[:2]]
    est = estimator(folder)
    cloud = _points_along_rays(truth, k, images[0][1].header)
    sparse = prompts.points_prompt(cloud_xyz(cloud), k, (h, w), prompts.prompt_shape(h, w))
    for (_, msg), (_, image) in zip(depths, images):
        pixels = image_to_array(image)
        (expected,) = est.estimate_batch([pixels], 'rgb8',
                                         prompts=[prompts.densify(sparse, 'nearest')])
        np.testing.assert_allclose(image_to_array(msg), expected.depth, rtol=1e-5)


def test_without_anchored_alignment_every_frame_is_unprompted_and_says_why(
        folder: Path, one_torch_thread: None) -> None:
    stage = _stage(estimator(folder), alignment='none')
    stage.add_camera_info(0, Calibration.from_intrinsics(40.0, 40.0, 21.5, 14.5, W, H))
    out = stage.process(Frame(frame(), 'rgb8', 1), Wanted(image=True, info=True))
    assert out.depth is None   # relative depth, no alignment: no metres
    status = stage.status()
    assert status['prompt_missing'] == '1' and status['prompt_frames'] == '0'
    assert 'alignment none reads no anchors' in status['prompt_last_missing']
