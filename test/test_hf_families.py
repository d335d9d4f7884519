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

"""The families on Hugging Face transformers: MiDaS/DPT, ZoeDepth, Depth Pro.

Each is checked against the library itself: a tiny network built from the library's own
config class with seeded random weights, saved with ``save_pretrained`` (and its image
processor) into a folder; our output for a frame equals the library's own pipeline /
``post_process_depth_estimation`` for the same frame within 1e-5 relative. The folders then
run through ``infer``, ``process-bag``, ``eval`` and the node, and bad folders are one line.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

transformers = pytest.importorskip('transformers')
torch = pytest.importorskip('torch')

from depth_anything_ros.commands import cli  # noqa: E402
from depth_anything_ros.estimator import DepthEstimator  # noqa: E402
from depth_anything_ros.model import CheckpointError, load_model  # noqa: E402

FAMILIES = ('dpt', 'zoedepth', 'depth_pro')
ENCODER = {'dpt': 'dpt', 'zoedepth': 'zoedepth', 'depth_pro': 'depthpro'}
CLASS = {'dpt': 'DPTForDepthEstimation', 'zoedepth': 'ZoeDepthForDepthEstimation',
         'depth_pro': 'DepthProForDepthEstimation'}
RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32']


def frame(h: int = 30, w: int = 44) -> np.ndarray:
    """Return a textured RGB frame (uint8)."""
    rng = np.random.default_rng(7)
    base = np.linspace(0, 255, w)[None, :, None] * np.linspace(0.3, 1, h)[:, None, None]
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def implementation(name: str):
    import importlib
    return importlib.import_module(f'depth_anything_ros.models.{name}.network')


def library_model(name: str):
    """Build the tiny library network: the library's class and config, seeded random weights."""
    config, _ = implementation(name).tiny(transformers)
    torch.manual_seed(3)
    model = getattr(transformers, CLASS[name])(config).eval()
    with torch.no_grad():   # every weight random (fresh heads start at zero)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * (0.02 if name == 'depth_pro' else 0.2))
        if name == 'depth_pro':   # a plausible field of view, positive inverse depth
            model.fov_model.head.layers[-1].bias.fill_(55.0)
            model.head.layers[-2].bias.fill_(1.0)
        if name == 'dpt':
            model.head.head[-2].bias.fill_(1.0)
    return model


def save_folder(name: str, folder: Path) -> Path:
    """Save the tiny library network and its image processor as save_pretrained writes them."""
    model = library_model(name)
    model.save_pretrained(folder)
    _, processor = implementation(name).tiny(transformers)
    if name == 'zoedepth':
        processor.processor.save_pretrained(folder)
    elif name == 'depth_pro':   # the library's own processor config, as it saves it
        (folder / 'preprocessor_config.json').write_text(json.dumps({
            'image_processor_type': 'DepthProImageProcessor', 'do_resize': True,
            'size': {'height': 112, 'width': 112}, 'resample': 2, 'do_rescale': True,
            'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': [0.5, 0.5, 0.5],
            'image_std': [0.5, 0.5, 0.5]}))
    else:
        processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope='module')
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('hf')
    torch.set_num_threads(1)
    return {name: save_folder(name, root / name) for name in FAMILIES}


def ours(folder: Path, image: np.ndarray, **kwargs) -> tuple[np.ndarray, DepthEstimator]:
    est = DepthEstimator(load_model(folder), device='cpu', backend='torch', precision='fp32')
    return est.infer(image, 'rgb8', **kwargs), est


def test_saved_folders_are_small(folders: dict[str, Path]) -> None:
    for folder in folders.values():
        assert sum(f.stat().st_size for f in folder.iterdir()) < 600_000


def test_dpt_equals_the_librarys_pipeline(folders: dict[str, Path],
                                          one_torch_thread: None) -> None:
    from PIL import Image
    image = frame()
    pipe = transformers.pipeline('depth-estimation', model=str(folders['dpt']), device='cpu')
    expected = pipe(Image.fromarray(image))['predicted_depth'].numpy()
    got, est = ours(folders['dpt'], image)
    assert not est.is_metric and got.shape == image.shape[:2] and np.ptp(got) > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def _torchvision_resize(depth, size, interpolation=None, antialias=False):
    """Resize like torchvision does float tensors: bicubic, no antialiasing (its kernel)."""
    return torch.nn.functional.interpolate(depth[None], size=list(size), mode='bicubic',
                                           align_corners=False)[0]


def test_zoedepth_equals_the_librarys_flip_and_pad_post_processing(
        folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        one_torch_thread: None) -> None:
    from PIL import Image
    image = frame()
    folder = folders['zoedepth']
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.ZoeDepthForDepthEstimation.from_pretrained(folder).eval()
    try:
        import torchvision  # noqa: F401
    except Exception:   # noqa: BLE001 - absent, or a build without its kernels
        # the library's post-processing resizes with torchvision; without it, with the
        # kernel torchvision uses for float tensors
        module = sys.modules[type(processor).__module__]
        monkeypatch.setattr(module, 'tvF', SimpleNamespace(
            resize=_torchvision_resize, InterpolationMode=SimpleNamespace(BICUBIC='bicubic')),
            raising=False)
    with torch.no_grad():
        x = processor(images=Image.fromarray(image), return_tensors='pt')['pixel_values']
        outputs = model(pixel_values=x)
        flipped = model(pixel_values=torch.flip(x, dims=[3]))
    expected = processor.post_process_depth_estimation(
        outputs, source_sizes=[image.shape[:2]], outputs_flipped=flipped)[0]['predicted_depth']
    got, est = ours(folder, image)
    assert est.is_metric and est.max_depth == 10.0
    assert x.shape[-2:] != image.shape[:2]   # padded and resized: the post-processing matters
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5)
    # without the flipped pass it would differ: the average is really taken
    plain = processor.post_process_depth_estimation(
        outputs, source_sizes=[image.shape[:2]])[0]['predicted_depth'].numpy()
    assert np.abs(plain - got).max() > 1e-4 * np.abs(got).max()


def _depth_pro_reference(folder: Path, image: np.ndarray, focal: float | None):
    """Depth Pro by the library's model and the formula of its post-processing, by hand."""
    model = transformers.DepthProForDepthEstimation.from_pretrained(folder).eval()
    # rescale and normalise fused into one step, first, as the library's processor does
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    x = torch.nn.functional.interpolate(x, size=(112, 112), mode='bilinear',
                                        align_corners=False)
    with torch.no_grad():
        out = model(pixel_values=x)
    h, w = image.shape[:2]
    fov = float(out.field_of_view[0])
    f = focal if focal is not None else 0.5 * w / np.tan(np.radians(fov) / 2)
    inverse = torch.nn.functional.interpolate(out.predicted_depth[:, None] * w / f,
                                              size=(h, w), mode='bilinear',
                                              align_corners=False)[0, 0]
    return (1 / inverse.clamp(1e-4, 1e4)).numpy(), f


def test_depth_pro_gives_metres_with_its_estimated_focal_or_the_real_one(
        folders: dict[str, Path], one_torch_thread: None) -> None:
    image = frame()
    expected, focal = _depth_pro_reference(folders['depth_pro'], image, None)
    got, est = ours(folders['depth_pro'], image)
    assert est.is_metric
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert est.last_focal_px[0] == pytest.approx(focal, rel=1e-5)
    assert 20 < focal < 80 and np.isfinite(got).all() and np.ptp(got) > 0
    # a known focal length is used instead of the estimate (Depth Pro's API allows it)
    expected_known, _ = _depth_pro_reference(folders['depth_pro'], image, 2.0 * focal)
    got_known = est.infer(image, 'rgb8', focal_px=2.0 * focal)
    np.testing.assert_allclose(got_known, expected_known, rtol=1e-5)
    assert est.last_focal_px == [pytest.approx(2.0 * focal)]
    inside = expected < 1e4 / 2   # not clamped: depth scales with the focal length
    np.testing.assert_allclose(got_known[inside], 2.0 * got[inside], rtol=1e-5)


def test_depth_pro_equals_the_librarys_own_processor_where_it_runs(
        folders: dict[str, Path], one_torch_thread: None) -> None:
    try:   # the library's Depth Pro processor is built on torchvision
        from transformers import DepthProImageProcessor
        DepthProImageProcessor()
    except Exception as exc:   # noqa: BLE001 - absent, or a build without its kernels
        pytest.skip(f'the library cannot build its Depth Pro processor here ({exc})')
    from PIL import Image
    image = frame()
    pipe = transformers.pipeline('depth-estimation', model=str(folders['depth_pro']),
                                 device='cpu')
    expected = pipe(Image.fromarray(image))['predicted_depth'].numpy()
    got, _ = ours(folders['depth_pro'], image)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_is_read_from_the_folders_config(name: str, folders: dict[str, Path]) -> None:
    model = load_model(folders[name])
    assert model.family == name and model.config.encoder == ENCODER[name]
    assert model.checkpoint_file == folders[name]
    # a published name finds its folder below the weights directory (download puts it there)


def test_a_published_name_loads_its_downloaded_folder(folders: dict[str, Path],
                                                      tmp_path: Path) -> None:
    import shutil
    shutil.copytree(folders['zoedepth'], tmp_path / 'zoedepth-nyu')
    model = load_model('zoedepth-nyu', weights_dir=tmp_path)
    assert model.family == 'zoedepth' and model.checkpoint_file == tmp_path / 'zoedepth-nyu'


def test_a_corrupt_or_mismatched_folder_is_one_clear_error(folders: dict[str, Path],
                                                           tmp_path: Path) -> None:
    import shutil
    bad = tmp_path / 'bad'
    shutil.copytree(folders['dpt'], bad)
    (bad / 'config.json').write_text('{"model_type": "dpt", ')
    with pytest.raises(CheckpointError, match='not valid JSON'):
        load_model(bad)
    # ZoeDepth weights under a DPT config
    shutil.copy(folders['dpt'] / 'config.json', bad / 'config.json')
    shutil.copy(folders['zoedepth'] / 'model.safetensors', bad / 'model.safetensors')
    with pytest.raises(CheckpointError, match='do not fit its config.json.*missing'):
        load_model(bad)
    (bad / 'model.safetensors').write_bytes(b'\0' * 64)
    with pytest.raises(CheckpointError, match='not a readable DPTForDepthEstimation folder'):
        load_model(bad)
    (bad / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='no model.safetensors'):
        load_model(bad)
    (bad / 'config.json').write_text('{"architectures": []}')
    with pytest.raises(CheckpointError, match='names no model_type'):
        load_model(bad)
    # the relative family refuses a metric mode, the metric ones a relative mode
    from depth_anything_ros.estimator import load_checked_model
    with pytest.raises(CheckpointError, match='relative inverse depth only'):
        load_checked_model(str(folders['dpt']), mode='metric')
    with pytest.raises(CheckpointError, match='metric depth .metres. only'):
        load_checked_model(str(folders['depth_pro']), mode='relative')


def test_a_bad_folder_in_a_command_is_one_line_and_exit_2(
        folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil
    bad = tmp_path / 'bad'
    shutil.copytree(folders['dpt'], bad)
    (bad / 'preprocessor_config.json').unlink()
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), frame())
    rc = cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), '--checkpoint',
                   str(bad), *RUNTIME])
    captured = capsys.readouterr()
    said = [line for line in (captured.out + captured.err).splitlines()
            if 'preprocessor_config.json' in line]
    assert rc == 2 and len(said) == 1 and 'Traceback' not in captured.out + captured.err


@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_runs_through_infer(name: str, folders: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture,
                                       one_torch_thread: None) -> None:
    image = frame()
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    mode = 'relative' if name == 'dpt' else 'metric'
    rc = cli.main(['infer', str(tmp_path / 'a.png'), '--out', str(tmp_path / 'out'),
                   '--checkpoint', str(folders[name]), '--mode', mode, *RUNTIME])
    assert rc == 0, capsys.readouterr()
    got = np.load(tmp_path / 'out' / 'a.npy')
    expected, _ = ours(folders[name], image)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_runs_through_process_bag(name: str, folders: dict[str, Path],
                                             tmp_path: Path, capsys: pytest.CaptureFixture,
                                             one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import read_bag, write_camera_bag

    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=30, w=44)
    mode = 'relative' if name == 'dpt' else 'metric'
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   str(folders[name]), '--mode', mode, *RUNTIME, '--json'])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)['processed'] == 2
    kind = 'disparity' if name == 'dpt' else 'depth'
    written = {t: m for t, m in read_bag(tmp_path / 'out').items()
               if t.endswith(f'{kind}/image')}
    (msgs,) = written.values()
    assert image_to_array(msgs[0][1]).shape == (30, 44)


@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_runs_through_eval(name: str, folders: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture,
                                      one_torch_thread: None) -> None:
    from depth_anything_ros.training.datasets import GenericWriter
    h, w = 30, 44
    depth = np.tile(np.linspace(1.0, 5.0, w, dtype=np.float32), (h, 1))
    writer = GenericWriter(tmp_path / 'data', depth_scale=1e-3)
    writer.add('ramp', frame(h, w), depth, 'val')
    writer.close()
    rc = cli.main(['eval', '--checkpoint', str(folders[name]), '--data', str(tmp_path / 'data'),
                   '--out', str(tmp_path / 'out.json'), '--device', 'cpu',
                   '--eval-max-depth', '10'])
    assert rc == 0, capsys.readouterr()
    assert json.loads((tmp_path / 'out.json').read_text())['n_images'] == 1


@pytest.mark.ros
@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_runs_in_the_node(name: str, folders: dict[str, Path], harness_ctx,
                                     one_torch_thread: None,
                                     capfd: pytest.CaptureFixture) -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.ros.node import DepthNode
    mode = 'relative' if name == 'dpt' else 'metric'
    params = {'checkpoint': str(folders[name]), 'encoder': 'auto', 'mode': mode,
              'device': 'cpu', 'backend': 'torch', 'precision': 'fp32'}
    node = DepthNode(context=harness_ctx,
                     parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    started = capfd.readouterr().err   # the library resizes: no input size is claimed
    assert "network input: the model library's own image processing" in started, started
    sub = Node(f'{name}_harness', context=harness_ctx)
    got: list = []
    topic = 'disparity/image' if name == 'dpt' else 'depth/image'
    sub.create_subscription(Image, topic, got.append, 10)
    image_pub = sub.create_publisher(Image, 'image', qos_profile_sensor_data)
    info_pub = sub.create_publisher(CameraInfo, 'camera_info', qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=harness_ctx)
    executor.add_node(node)
    executor.add_node(sub)
    try:
        pixels = frame()
        msg = Image(width=44, height=30, encoding='rgb8', step=44 * 3, data=pixels.tobytes())
        msg.header.frame_id = 'cam'
        info = CameraInfo(width=44, height=30, distortion_model='plumb_bob', d=[0.0] * 5,
                          k=[40.0, 0.0, 22.0, 0.0, 40.0, 15.0, 0.0, 0.0, 1.0],
                          r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                          p=[40.0, 0.0, 22.0, 0.0, 0.0, 40.0, 15.0, 0.0, 0.0, 0.0, 1.0, 0.0])
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
        assert got, f'the node published no {topic} for the {name} family'
        assert got[0].header.frame_id == 'cam' and (got[0].height, got[0].width) == (30, 44)
        assert image_to_array(got[0]).dtype == np.float32
    finally:
        node.stop_worker(5.0)
        executor.shutdown()
        node.destroy_node()
        sub.destroy_node()


def test_the_node_and_the_cli_import_without_transformers(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "from depth_anything_ros.commands import cli\n"
        "from depth_anything_ros.ros import node\n"
        "from depth_anything_ros.models import registry\n"
        "from depth_anything_ros.params import spec\n"
        "names = [f.name for f in registry.families()]\n"
        "assert {'dpt', 'zoedepth', 'depth_pro', 'prompt_depth_anything'} <= set(names)\n"
        "assert 'dpt' in spec('encoder').choices\n"
        "rc = cli.main(['download', '--list'])\n"
        "assert rc == 0\n"
        "from depth_anything_ros.model import load_model\n"
        "try:\n"
        "    load_model('untrained:dpt', allow_untrained=True)\n"
        "except ValueError as exc:\n"
        "    print('REFUSED', exc)\n"
        "assert sys.modules['transformers'] is None\n")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'dpt-large' in done.stdout and 'Apache-2.0' in done.stdout
    refused = done.stdout.split('REFUSED ', 1)[1]
    assert 'transformers' in refused and 'depth_anything_ros[hf]' in refused


@pytest.mark.parametrize('name', FAMILIES)
def test_eval_predicts_with_the_familys_own_processing(name: str, folders: dict[str, Path],
                                                      one_torch_thread: None) -> None:
    from depth_anything_ros.training.evaluate import owns_processing, predict
    image = frame()
    model = load_model(folders[name])
    assert owns_processing(model)
    expected, _ = ours(folders[name], image, focal_px=35.0)
    with torch.no_grad():
        got = predict(model, torch.zeros(3, 28, 42), image.shape[:2], rgb=image,
                      focal_px=35.0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize('name', FAMILIES)
def test_the_family_teaches_in_pseudo_label(name: str, folders: dict[str, Path],
                                            tmp_path: Path, capsys: pytest.CaptureFixture,
                                            one_torch_thread: None) -> None:
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.png'), frame())
    rc = cli.main(['pseudo-label', '--teacher', str(folders[name]), '--inputs',
                   str(tmp_path / 'images'), '--out', str(tmp_path / 'labels'),
                   '--device', 'cpu', '--no-progress'])
    assert rc == 0, capsys.readouterr()
    assert '1 new labels' in capsys.readouterr().out


def test_the_network_size_is_the_library_processors(folders: dict[str, Path]) -> None:
    _, est = ours(folders['zoedepth'], frame())
    # ZoeDepth pads a 30x44 frame and resizes it keeping the aspect, sides multiples of 8
    h, w = est.network_size(30, 44)
    assert (h % 8, w % 8) == (0, 0) and (h, w) != (30, 44)
    assert (h, w) == tuple(est.preprocess([frame()], 'rgb8').shape[-2:])


def test_an_onnx_export_of_a_library_family_is_refused_not_run_wrongly(
        folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
        one_torch_thread: None) -> None:
    """The shared preprocessing is not the library's: no export is made that would run wrongly."""
    out = tmp_path / 'dpt.onnx'
    rc = cli.main(['export', '--checkpoint', str(folders['dpt']), '--out', str(out),
                   '--input-size', '28', '--no-verify'])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert 'cannot be exported to onnx' in err.splitlines()[-1]
    assert not out.exists()


@pytest.mark.parametrize('name, published', [('dpt', 'dpt-large'), ('zoedepth', 'zoedepth-kitti'),
                                             ('depth_pro', 'depth-pro')])
def test_download_fetches_a_whole_folder_that_then_loads_by_name(
        name: str, published: str, folders: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import types

    from depth_anything_ros.models.hub import download
    calls = []

    def hf_hub_download(repo_id: str, filename: str, local_dir: str) -> str:
        """Serve the tiny folder's files, as the hub would serve the published ones."""
        calls.append((repo_id, filename))
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        return shutil.copy(folders[name] / filename, Path(local_dir) / filename)

    monkeypatch.setitem(sys.modules, 'huggingface_hub',
                        types.SimpleNamespace(hf_hub_download=hf_hub_download))
    download(published, tmp_path)
    assert [f for _, f in calls] == ['model.safetensors', 'config.json',
                                     'preprocessor_config.json']
    model = load_model(published, weights_dir=tmp_path)
    assert model.family == name and model.checkpoint_file == tmp_path / published


@pytest.mark.parametrize('name', FAMILIES)
def test_build_model_is_the_published_architecture_with_the_librarys_processor(
        name: str) -> None:
    from depth_anything_ros.model import build_model
    model = build_model(ENCODER[name], 'metric' if name != 'dpt' else 'relative',
                        device='meta')
    expected = getattr(transformers, CLASS[name]).config_class()
    built = model.net.config.to_dict()   # (the model may add derived fields)
    assert {k: built[k] for k in expected.to_dict()} == expected.to_dict()
    assert model.family == name and next(model.parameters()).device.type == 'meta'
    size = getattr(model.processor, 'size', None) or model.processor.processor.size
    assert size in ((1536, 1536), {'height': 384, 'width': 384},
                    {'height': 384, 'width': 512})
