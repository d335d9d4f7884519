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

"""The Marigold family on Hugging Face diffusers (``MarigoldDepthPipeline``), offline only.

A tiny pipeline is built from the libraries' own classes (diffusers' U-Net and VAE, a
transformers CLIP text encoder and tokenizer, DDIM or LCM) with seeded weights and saved with
``save_pretrained``; loaded by folder, our depth for a frame equals what diffusers' own pipeline
(loaded by diffusers from the same folder, given the frame as a PIL image) returns, with its
ensembling and alignment, for ensemble sizes 1 and 3. Then the folder runs through ``infer``,
``process-bag``, ``eval`` and ``pseudo-label``, and the node refuses it in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

diffusers = pytest.importorskip('diffusers')
torch = pytest.importorskip('torch')
pytest.importorskip('scipy')

from depth_anything_ros.commands import cli  # noqa: E402
from depth_anything_ros.errors import InvalidInputError  # noqa: E402
from depth_anything_ros.estimator import DepthEstimator  # noqa: E402
from depth_anything_ros.model import CheckpointError, load_model  # noqa: E402
from depth_anything_ros.models.marigold import network  # noqa: E402

RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32']
H, W = 20, 28


def frame(h: int = H, w: int = W, seed: int = 7) -> np.ndarray:
    """Return a textured RGB frame (uint8)."""
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.linspace(0.3, 1, h)[:, None, None]
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def save_pipeline(folder: Path, *, lcm: bool = False) -> Path:
    """Save a tiny pipeline with seeded weights (every weight random) as save_pretrained does."""
    torch.manual_seed(5)
    pipe = network.tiny_pipeline(diffusers, lcm=lcm)
    with torch.no_grad():   # zero-initialised output layers would give a constant depth
        for part in (pipe.unet, pipe.vae):
            for p in part.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope='module')
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('marigold')
    torch.set_num_threads(1)
    return {'v1-1': save_pipeline(root / 'tiny-v1-1'),
            'lcm': save_pipeline(root / 'tiny-lcm', lcm=True)}


def library_depth(folder: Path, rgb: np.ndarray, ensemble: int, seed: int = 0,
                  **kwargs) -> np.ndarray:
    """Diffusers' own pipeline, loaded by diffusers, on the frame as a PIL image."""
    from PIL import Image
    pipe = diffusers.MarigoldDepthPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    generators = [torch.Generator().manual_seed(seed + e) for e in range(ensemble)]
    out = pipe(Image.fromarray(rgb), ensemble_size=ensemble, generator=generators,
               output_type='np', **kwargs)
    return out.prediction[0, :, :, 0]


def ours(folder: Path, rgb: np.ndarray, **sampling) -> np.ndarray:
    model = load_model(folder)
    model.configure_sampling(**sampling)
    est = DepthEstimator(model, device='cpu', backend='torch', precision='fp32')
    return est.infer(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), 'bgr8')


@pytest.mark.parametrize('ensemble', [1, 3])
def test_marigold_equals_the_librarys_pipeline_with_its_ensembling(
        ensemble: int, folders: dict[str, Path], one_torch_thread: None) -> None:
    rgb = frame()
    got = ours(folders['v1-1'], rgb, ensemble_size=ensemble)
    expected = library_depth(folders['v1-1'], rgb, ensemble)
    assert got.shape == (H, W) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # the pipeline's affine-invariant depth in [0, 1], not a constant
    assert 0.0 <= got.min() and got.max() <= 1.0 and got.std() > 1e-3
    # the comparison can fail: other noise gives another depth
    assert np.abs(library_depth(folders['v1-1'], rgb, ensemble, seed=11) - got).max() > 1e-3


def test_the_lcm_pipeline_and_the_sampling_settings_equal_the_librarys(
        folders: dict[str, Path], one_torch_thread: None) -> None:
    rgb = frame(seed=3)
    got = ours(folders['lcm'], rgb, steps=2, processing_resolution=16)
    expected = library_depth(folders['lcm'], rgb, 1, num_inference_steps=2,
                             processing_resolution=16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    model = load_model(folders['lcm'])
    assert type(model.pipe.scheduler).__name__ == 'LCMScheduler'
    assert model.config.output == 'depth' and not model.is_metric


def test_a_frame_gives_the_same_depth_alone_or_in_a_batch(folders: dict[str, Path],
                                                         one_torch_thread: None) -> None:
    model = load_model(folders['v1-1'])
    a, b = frame(seed=1), frame(seed=2)
    est = DepthEstimator(model, device='cpu', backend='torch', precision='fp32')
    both = est.infer_batch([a, b], 'rgb8')
    np.testing.assert_array_equal(both[1], est.infer(b, 'rgb8'))
    assert np.abs(both[0] - both[1]).max() > 1e-3


def test_the_family_is_read_from_the_pipeline_index(folders: dict[str, Path]) -> None:
    from depth_anything_ros.models.loading import library_folder_family
    assert library_folder_family(folders['v1-1']).name == 'marigold'
    model = load_model('untrained:marigold', allow_untrained=True)
    assert model.family == 'marigold' and model.config.encoder == 'marigold'


def test_a_broken_or_unknown_pipeline_folder_is_one_clear_error(folders: dict[str, Path],
                                                                tmp_path: Path) -> None:
    bad = tmp_path / 'bad'
    shutil.copytree(folders['v1-1'], bad)
    shutil.rmtree(bad / 'unet')
    with pytest.raises(CheckpointError, match='no unet folder'):
        load_model(bad)
    mismatched = tmp_path / 'mismatched'
    shutil.copytree(folders['v1-1'], mismatched)
    shutil.copy(folders['lcm'] / 'vae' / 'config.json', mismatched / 'vae' / 'config.json')
    config = json.loads((mismatched / 'vae' / 'config.json').read_text())
    config['block_out_channels'] = [4, 16]
    (mismatched / 'vae' / 'config.json').write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match='not a readable MarigoldDepthPipeline folder'):
        load_model(mismatched)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'model_index.json').write_text(json.dumps({'_class_name': 'StableDiffusionPipeline'}))
    with pytest.raises(CheckpointError, match='StableDiffusionPipeline'):
        load_model(other)


def test_the_node_refuses_marigold_in_one_line_that_says_why_and_what_to_use(
        folders: dict[str, Path]) -> None:
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.parameters import build_estimator
    for values in ({'checkpoint': str(folders['v1-1'])},
                   {'checkpoint': 'marigold-depth-lcm-v1-0'},
                   {'checkpoint': 'untrained', 'encoder': 'marigold',
                    'allow_untrained_weights': True}):
        with pytest.raises(InvalidInputError) as info:
            build_estimator(validate(values))
        said = str(info.value)
        assert '\n' not in said
        assert 'seconds per frame' in said and 'vits' in said and 'process-bag' in said


def test_infer_takes_the_sampling_flags(folders: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture,
                                        one_torch_thread: None) -> None:
    rgb = frame()
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    rc = cli.main(['infer', str(tmp_path / 'a.png'), '--out', str(tmp_path / 'out'),
                   '--checkpoint', str(folders['v1-1']), '--ensemble-size', '3', '--steps', '1',
                   '--processing-resolution', '16', *RUNTIME])
    assert rc == 0, capsys.readouterr()
    got = np.load(tmp_path / 'out' / 'a.npy')
    expected = library_depth(folders['v1-1'], rgb, 3, num_inference_steps=1,
                             processing_resolution=16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('argv, said', [
    (['--checkpoint', 'untrained:vits', '--allow-untrained', '--steps', '2'],
     '--steps: untrained:vits does not sample'),
    (['--checkpoint', 'MARIGOLD', '--processing-resolution', '15'],
     '--processing-resolution must be 0 (the frame size) or a positive multiple of 2'),
    (['--checkpoint', 'MARIGOLD', '--ensemble-size', '0'], 'expected a whole number >= 1'),
])
def test_bad_sampling_flags_are_one_line_and_exit_2(argv: list[str], said: str,
                                                   folders: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / 'a.png'), frame())
    argv = [str(folders['v1-1']) if a == 'MARIGOLD' else a for a in argv]
    try:
        rc = cli.main(['infer', str(tmp_path / 'a.png'), '--out', str(tmp_path / 'out'), *argv,
                       *RUNTIME])
    except SystemExit as exc:   # argparse's own check of a flag's value
        rc = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if 'error' in line]
    assert rc == 2 and len(errors) == 1 and said in errors[0] and 'Traceback' not in err


def test_process_bag_writes_marigold_depth(folders: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture,
                                           one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import read_bag, write_camera_bag
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W)
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   str(folders['v1-1']), '--outputs', 'depth', *RUNTIME, '--json'])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)['processed'] == 2
    assert any(t.endswith('disparity/image') and len(m) == 2
               for t, m in read_bag(tmp_path / 'out').items())


def test_pseudo_label_with_a_marigold_teacher(folders: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture,
                                              one_torch_thread: None) -> None:
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.png'), frame())
    rc = cli.main(['pseudo-label', '--teacher', str(folders['v1-1']), '--inputs',
                   str(tmp_path / 'images'), '--out', str(tmp_path / 'labels'),
                   '--device', 'cpu', '--no-progress', '--steps', '1'])
    out = capsys.readouterr().out
    assert rc == 0 and '1 new labels' in out
    meta = json.loads((tmp_path / 'labels' / 'meta.json').read_text())
    # 1 - depth: disparity-like labels of unknown scale and shift (1 / depth needs the shift)
    assert meta['teacher_output'] == 'disparity' and 'shift' in meta['disparity']


def test_the_teacher_reverses_relative_depth_into_disparity(folders: dict[str, Path],
                                                            one_torch_thread: None) -> None:
    from depth_anything_ros.training.pseudo_label import estimator_teacher
    est = DepthEstimator(load_model(folders['v1-1']), device='cpu', backend='torch',
                         precision='fp32')
    bgr = frame()
    (label,) = estimator_teacher(est)([bgr])
    np.testing.assert_allclose(label, 1.0 - est.infer(bgr, 'bgr8'), atol=1e-7)


def legacy_tokenizer(folder: Path) -> None:
    """Rewrite the tokenizer folder as the published repositories hold it (vocab + merges)."""
    tok = folder / 'tokenizer'
    shutil.rmtree(tok)
    tok.mkdir()
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1,
             **{c: i + 2 for i, c in enumerate('abcdefghijklmnopqrstuvwxyz')}}
    (tok / 'vocab.json').write_text(json.dumps(vocab))
    (tok / 'merges.txt').write_text('#version: 0.2\n')
    (tok / 'tokenizer_config.json').write_text(json.dumps({
        'tokenizer_class': 'CLIPTokenizer', 'model_max_length': 16,
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>', 'pad_token': '<|endoftext|>'}))
    (tok / 'special_tokens_map.json').write_text(json.dumps({
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>', 'pad_token': '<|endoftext|>'}))


def test_download_fetches_the_whole_pipeline_folder_that_then_loads_by_name(
        folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        one_torch_thread: None) -> None:
    import types

    from depth_anything_ros.models.hub import download
    hub = tmp_path / 'hub'
    shutil.copytree(folders['v1-1'], hub)
    legacy_tokenizer(hub)
    calls = []

    def hf_hub_download(repo_id: str, filename: str, local_dir: str) -> str:
        """Serve the tiny folder's files, as the hub serves the published ones."""
        calls.append((repo_id, filename))
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        return shutil.copy(hub / filename, target)

    monkeypatch.setitem(sys.modules, 'huggingface_hub',
                        types.SimpleNamespace(hf_hub_download=hf_hub_download))
    download('marigold-depth-v1-1', tmp_path / 'weights')
    assert {repo for repo, _ in calls} == {'prs-eth/marigold-depth-v1-1'}
    served = {str(p.relative_to(hub)) for p in hub.rglob('*') if p.is_file()}
    assert {f for _, f in calls} == served   # every file of the folder, nothing else
    model = load_model('marigold-depth-v1-1', weights_dir=tmp_path / 'weights')
    assert model.family == 'marigold'
    rgb = frame()
    est = DepthEstimator(model, device='cpu', backend='torch', precision='fp32')
    np.testing.assert_allclose(est.infer(rgb, 'rgb8'), ours(folders['v1-1'], rgb), rtol=1e-5,
                               atol=1e-7)


def test_the_published_names_and_licences() -> None:
    import inspect

    from depth_anything_ros.models.registry import family
    fam = family('marigold')
    repos = {c.name: (c.repo, c.licence) for c in fam.checkpoints}
    assert repos == {'marigold-depth-v1-1': ('prs-eth/marigold-depth-v1-1', 'Apache-2.0'),
                     'marigold-depth-lcm-v1-0': ('prs-eth/marigold-depth-lcm-v1-0',
                                                 'Apache-2.0')}
    # the installed library's own documentation names the v1-1 repository
    from diffusers.pipelines.marigold import pipeline_marigold_depth
    assert 'prs-eth/marigold-depth-v1-1' in inspect.getsource(pipeline_marigold_depth)
    assert fam.offline and fam.backends == ('torch',) and fam.outputs == ('depth',)


def test_the_node_and_the_cli_import_without_diffusers(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['diffusers'] = None\n"
        "from depth_anything_ros.commands import cli\n"
        "from depth_anything_ros.ros import node\n"
        "from depth_anything_ros.models import registry\n"
        "from depth_anything_ros.params import spec\n"
        "assert 'marigold' in [f.name for f in registry.families()]\n"
        "assert 'marigold' in spec('encoder').choices\n"
        "assert cli.main(['download', '--list']) == 0\n"
        "from depth_anything_ros.model import load_model\n"
        "try:\n"
        "    load_model('untrained:marigold', allow_untrained=True)\n"
        "except ValueError as exc:\n"
        "    print('REFUSED', exc)\n"
        "assert sys.modules['diffusers'] is None\n")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'marigold-depth-v1-1' in done.stdout and 'marigold-depth-lcm-v1-0' in done.stdout
    refused = done.stdout.split('REFUSED ', 1)[1]
    assert 'diffusers' in refused and 'depth_anything_ros[diffusers]' in refused


def test_a_pipeline_without_default_steps_loads_and_asks_for_steps(
        folders: dict[str, Path], tmp_path: Path, one_torch_thread: None) -> None:
    folder = tmp_path / 'no-defaults'
    shutil.copytree(folders['v1-1'], folder)
    index = json.loads((folder / 'model_index.json').read_text())
    index['default_denoising_steps'] = None
    (folder / 'model_index.json').write_text(json.dumps(index))
    model = load_model(folder)   # the flags are given after loading: no refusal yet
    est = DepthEstimator(model, device='cpu', backend='torch', precision='fp32')
    with pytest.raises(InvalidInputError, match='give --steps'):
        est.infer(frame(), 'rgb8')
    model.configure_sampling(steps=1)
    assert est.infer(frame(), 'rgb8').shape == (H, W)


def test_an_onnx_export_of_marigold_is_refused_in_one_line(folders: dict[str, Path],
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'marigold.onnx'
    rc = cli.main(['export', '--checkpoint', str(folders['v1-1']), '--out', str(out),
                   '--input-size', '28', '--no-verify'])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert 'cannot be exported to onnx' in err.splitlines()[-1] and not out.exists()
