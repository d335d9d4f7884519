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

"""Checkpoint files: formats, round trips, name resolution, metadata and error messages."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import sys
import types

import pytest
from safetensors.torch import save_file
import torch

from depth_anything_ros.model import (
    build_model,
    CheckpointError,
    export_model,
    load_model,
    ModelConfig,
    resolve_checkpoint,
    untrained_model,
)
from depth_anything_ros.models import hub
from depth_anything_ros.models.da2.hf_keys import hf_to_official, official_to_hf
from depth_anything_ros.training.runs import load_checkpoint

X = torch.linspace(-2, 2, 3 * 42 * 56).reshape(1, 3, 42, 56)


@pytest.fixture(scope='module')
def vits_sd() -> dict[str, torch.Tensor]:
    return untrained_model('vits', warn=False).state_dict()


@pytest.fixture
def tiny() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model(ModelConfig.tiny(), 'metric', max_depth=30.0).eval()


def out(model: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return model(X)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_export_round_trip_with_sidecar(tiny: torch.nn.Module, tmp_path: Path,
                                        suffix: str) -> None:
    path = export_model(tiny, tmp_path / f'student{suffix}')
    side = json.loads(path.with_suffix('.json').read_text())
    assert side['format'] == 'depth_anything_ros.checkpoint/1'
    assert side['head'] == 'metric' and side['max_depth'] == 30.0
    assert ModelConfig.from_dict(side['config']) == tiny.config
    loaded = load_model(path)
    assert loaded.config == tiny.config and not loaded.training
    assert_same_weights(tiny, loaded)
    torch.testing.assert_close(out(loaded), out(tiny), rtol=0, atol=0)
    bare = torch.load(tmp_path / 'student.pth', weights_only=True) if suffix == '.pth' else None
    if bare is not None:  # the .pth is an official-layout bare state dict
        assert list(bare) == list(tiny.state_dict())


@pytest.mark.slow
def test_official_names_resolve_in_weights_dir(vits_sd: dict, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hub.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(hub, 'DEFAULT_WEIGHTS_DIR', tmp_path / 'nowhere')
    torch.save(vits_sd, tmp_path / 'depth_anything_v2_vits.pth')
    torch.save(vits_sd, tmp_path / 'depth_anything_v2_metric_vkitti_vits.pth')
    assert resolve_checkpoint('vits', tmp_path) == tmp_path / 'depth_anything_v2_vits.pth'
    model = load_model('vits', weights_dir=tmp_path)  # config from shapes + name
    assert model.config.encoder == 'vits' and not model.is_metric
    outdoor = load_model('metric_outdoor_vits', weights_dir=tmp_path)
    assert outdoor.is_metric and outdoor.config.max_depth == 80.0
    # The environment variable is searched too.
    monkeypatch.setenv(hub.WEIGHTS_ENV, str(tmp_path))
    assert resolve_checkpoint('metric_vkitti_vits').parent == tmp_path
    ref = untrained_model('vits', warn=False)
    torch.testing.assert_close(out(model), out(ref), rtol=0, atol=0)


def test_relative_checkpoint_is_not_loaded_as_metric(vits_sd: dict, tmp_path: Path,
                                                     tiny: torch.nn.Module) -> None:
    rel = tmp_path / 'depth_anything_v2_vits.pth'
    torch.save(vits_sd, rel)
    with pytest.raises(CheckpointError, match='relative .*head=.metric. was requested'):
        load_model(rel, head='metric')
    metric = export_model(tiny, tmp_path / 'tiny_metric.pth')
    with pytest.raises(CheckpointError, match='metric .*head=.relative. was requested'):
        load_model(metric, head='relative')
    # Without any metadata the head is whatever is asked for.
    plain = tmp_path / 'my_weights.pth'
    torch.save(vits_sd, plain)
    assert load_model(plain, head='metric', max_depth=5.0).config.max_depth == 5.0


def test_training_checkpoint_with_ddp_prefix(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / 'last.pt'
    torch.save({'model': {f'module.{k}': v for k, v in tiny.state_dict().items()},
                'optimizer': {'state': {}}, 'step': 12, 'best': 0.5,
                'model_config': tiny.config.to_dict()}, path)
    loaded = load_model(path)
    assert loaded.config == tiny.config
    assert_same_weights(tiny, loaded)


@pytest.mark.slow
def test_hugging_face_converter_round_trip(vits_sd: dict, tiny: torch.nn.Module,
                                           tmp_path: Path) -> None:
    for sd in (vits_sd, tiny.state_dict(), build_model('vitg', device='meta').state_dict()):
        hf = official_to_hf(sd)
        assert any(k.endswith('attention.attention.query.weight') for k in hf)
        assert 'neck.fusion_stage.layers.0.projection.weight' in hf  # refinenet4 first
        back = hf_to_official(hf)
        assert set(back) == set(sd)
        for k in sd:
            assert back[k].shape == sd[k].shape, k
            if sd[k].device.type != 'meta':
                assert torch.equal(back[k], sd[k]), k
    # A transformers-format file loads directly (safetensors, like the -hf repos).
    path = tmp_path / 'model.safetensors'
    save_file(official_to_hf(vits_sd), str(path))
    model = load_model(path)
    assert model.config.encoder == 'vits'
    assert torch.equal(model.state_dict()['pretrained.blocks.3.attn.qkv.weight'],
                       vits_sd['pretrained.blocks.3.attn.qkv.weight'])


def test_hugging_face_snapshot_folder_with_metric_config(vits_sd: dict,
                                                        tmp_path: Path) -> None:
    save_file(official_to_hf(vits_sd), str(tmp_path / 'model.safetensors'))
    (tmp_path / 'config.json').write_text(json.dumps(
        {'model_type': 'depth_anything', 'depth_estimation_type': 'metric', 'max_depth': 80}))
    model = load_model(tmp_path)  # the folder, as huggingface_hub downloads it
    assert model.is_metric and model.config.max_depth == 80.0
    with pytest.raises(CheckpointError, match='metric'):
        load_model(tmp_path, head='relative')


def test_bare_safetensors_without_sidecar(vits_sd: dict, tmp_path: Path) -> None:
    path = tmp_path / 'depth_anything_v2_vits.safetensors'
    save_file({k: v.contiguous() for k, v in vits_sd.items()}, str(path))
    model = load_model(path)
    assert model.config.encoder == 'vits'
    assert torch.equal(model.state_dict()['pretrained.pos_embed'],
                       vits_sd['pretrained.pos_embed'])


def test_corrupt_and_truncated_files_name_the_file(tiny: torch.nn.Module,
                                                   tmp_path: Path) -> None:
    good = export_model(tiny, tmp_path / 'good.pth')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match='truncated.pth.*download it again'):
        load_model(truncated)
    junk = tmp_path / 'junk.safetensors'
    junk.write_bytes(b'\x00' * 64)
    with pytest.raises(CheckpointError, match='junk.safetensors'):
        load_model(junk)
    pickled = tmp_path / 'not_weights.pth'
    torch.save([1, 2, 3], pickled)
    with pytest.raises(CheckpointError, match='not a state dict'):
        load_model(pickled)


def test_strict_load_names_missing_unexpected_and_mismatched_keys(
        tiny: torch.nn.Module, tmp_path: Path) -> None:
    sd = dict(tiny.state_dict())
    sd.pop('depth_head.scratch.output_conv1.bias')
    sd['depth_head.extra.weight'] = torch.zeros(1)
    sd['pretrained.cls_token'] = torch.zeros(1, 1, 65)
    path = tmp_path / 'broken.pt'
    torch.save({'model': sd, 'model_config': tiny.config.to_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert 'missing keys: depth_head.scratch.output_conv1.bias' in msg
    assert 'unexpected keys: depth_head.extra.weight' in msg
    assert 'pretrained.cls_token: checkpoint (1, 1, 65) vs model (1, 1, 64)' in msg
    good = export_model(tiny, tmp_path / 'tiny.pth')
    with pytest.raises(CheckpointError, match='shape mismatches'):
        load_model(good, encoder='vits')


def test_missing_checkpoint_explains_where_to_get_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hub.WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint('metric_indoor_vitl', tmp_path)
    msg = str(err.value)
    for part in ('depth_anything_v2_metric_hypersim_vitl.pth', str(tmp_path),
                 'https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-Hypersim-Large',
                 'CC-BY-NC-4.0', 'depth-anything-ros download metric_hypersim_vitl'):
        assert part in msg
    with pytest.raises(FileNotFoundError, match='Apache-2.0'):
        resolve_checkpoint('vits', tmp_path)
    with pytest.raises(FileNotFoundError, match='not been published'):
        resolve_checkpoint('vitg', tmp_path)
    with pytest.raises(FileNotFoundError, match='Known names: .*metric_indoor_vits'):
        resolve_checkpoint('vitz', tmp_path)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_model(tmp_path / 'absent.pth')


def test_untrained_needs_explicit_permission(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match='allow_untrained=True'):
        load_model('untrained')
    with caplog.at_level(logging.WARNING):
        model = load_model('untrained:tiny', allow_untrained=True, head='metric')
    assert 'UNTRAINED' in caplog.text
    assert model.config.encoder == 'tiny' and model.is_metric
    again = load_model('untrained:tiny', allow_untrained=True, head='metric')
    assert_same_weights(model, again)  # deterministic


def test_download_error_paths_without_network(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, 'huggingface_hub', None)  # not installed
    with pytest.raises(RuntimeError, match='pip install huggingface_hub.*resolve/main'):
        hub.download('vits', tmp_path)
    calls = []

    def offline(**kwargs: object) -> str:
        calls.append(kwargs)
        raise OSError('network is unreachable')

    fake = types.ModuleType('huggingface_hub')
    fake.hf_hub_download = offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, 'huggingface_hub', fake)
    with pytest.raises(RuntimeError, match='depth_anything_v2_vitb.pth.*unreachable'):
        hub.download('vitb', tmp_path)
    assert calls == [{'repo_id': 'depth-anything/Depth-Anything-V2-Base',
                      'filename': 'depth_anything_v2_vitb.pth', 'local_dir': str(tmp_path)}]
    fake.hf_hub_download = lambda **kw: str(Path(kw['local_dir']) / kw['filename'])
    assert hub.download('metric_outdoor_vits', tmp_path) == (
        tmp_path / 'depth_anything_v2_metric_vkitti_vits.pth')
    with pytest.raises(ValueError, match='unknown model name'):
        hub.download('vitq', tmp_path)
    with pytest.raises(RuntimeError, match='not been published'):
        hub.download('vitg', tmp_path)


def test_download_cli_lists_names(capsys: pytest.CaptureFixture) -> None:
    import argparse

    from depth_anything_ros.commands import download
    parser = argparse.ArgumentParser()
    download.add_arguments(parser)
    assert download.main(parser.parse_args(['--list'])) == 0
    text = capsys.readouterr().out
    assert 'metric_indoor_vits' in text and 'Apache-2.0' in text and '(not published)' in text


def _bad_files(tmp: Path, tiny: torch.nn.Module) -> dict[str, tuple[Path, str]]:
    """Each malformed input -> (path, what its CheckpointError must say)."""
    sd = tiny.state_dict()
    files = {}

    def save(name: str, obj: object) -> Path:
        torch.save(obj, tmp / name)
        return tmp / name

    (tmp / 'text.pth').write_text('hello world\n')
    files['text'] = tmp / 'text.pth', 'text.pth is not a PyTorch .* it is a text file'
    (tmp / 'lfs.pth').write_text('version https://git-lfs.github.com/spec/v1\noid sha256:0\n')
    files['git lfs pointer'] = tmp / 'lfs.pth', 'lfs.pth .* Git LFS pointer.*git lfs pull'
    (tmp / 'page.pth').write_text('<!DOCTYPE html><html>Not Found</html>')
    files['html page'] = tmp / 'page.pth', 'page.pth .* HTML.*download the file again'
    (tmp / 'empty.pth').write_bytes(b'')
    files['empty'] = tmp / 'empty.pth', 'empty.pth is empty .*download or copy it again'
    files['int keys'] = (save('ints.pth', {1: torch.zeros(2), 2: torch.ones(3)}),
                         r'ints.pth is not a state dict: .*strings\), found \[1, 2\]')
    files['rank-0 tensors'] = (save('rank0.pth', {k: torch.tensor(0.0) for k in sd}),
                               r'rank0.pth: pretrained.pos_embed has shape \(\), expected 3')
    no_tokens = {**sd, 'pretrained.pos_embed': torch.zeros(1, 0, 64)}
    files['0-token pos_embed'] = (save('pos0.pth', no_tokens),
                                  r'pos0.pth: pretrained.pos_embed has shape \(1, 0, 64\)')
    cls_only = {**sd, 'pretrained.pos_embed': torch.zeros(1, 1, 64)}
    files['pos_embed without grid'] = (save('cls.pth', cls_only),
                                       'cls.pth: pretrained.pos_embed holds 1 tokens')
    integer = {**sd, 'pretrained.cls_token': torch.zeros(1, 1, 64, dtype=torch.int64)}
    files['integer weights'] = (save('int64.pth', integer),
                                'int64.pth: 1 tensors are not floating point')
    for name, change in (('config', {'config': {'embed_dim': 'x', 'depth': [1]}}),
                         ('head', {'head': ['relative']}), ('max_depth', {'max_depth': 'far'})):
        path = export_model(tiny, tmp / f'side_{name}.pth')
        side = json.loads(path.with_suffix('.json').read_text())
        path.with_suffix('.json').write_text(json.dumps({**side, **change}))
        files[f'sidecar {name} of the wrong type'] = (
            path, f'sidecar .*side_{name}.json: invalid .{name}.*fix or delete it')
    path = export_model(tiny, tmp / 'side_list.pth')
    path.with_suffix('.json').write_text('[1, 2]')
    files['sidecar list'] = path, None   # not a sidecar of ours: ignored with a warning
    files['training metadata of the wrong type'] = (
        save('meta.pt', {'model': sd, 'model_config': {**tiny.config.to_dict(), 'depth': 2.5}}),
        "meta.pt: its model metadata is damaged: invalid 'model_config': depth must be a "
        'positive integer')
    os.mkfifo(tmp / 'fifo.pth')
    files['fifo'] = tmp / 'fifo.pth', r'fifo.pth is a FIFO \(named pipe\), not a regular file'
    files['/dev/zero'] = Path('/dev/zero'), '/dev/zero is a character device, not a regular'
    (tmp / 'folder').mkdir()
    files['directory'] = tmp / 'folder', 'folder is a directory without model.safetensors'
    fifo_side = export_model(tiny, tmp / 'fifo_side.pth')
    fifo_side.with_suffix('.json').unlink()
    os.mkfifo(fifo_side.with_suffix('.json'))
    files['fifo sidecar'] = fifo_side, r'fifo_side.json is a FIFO'
    return files


BAD_FILES = ['text', 'git lfs pointer', 'html page', 'empty', 'int keys', 'rank-0 tensors',
             '0-token pos_embed', 'pos_embed without grid', 'integer weights',
             'sidecar config of the wrong type', 'sidecar head of the wrong type',
             'sidecar max_depth of the wrong type', 'training metadata of the wrong type',
             'fifo', '/dev/zero', 'directory', 'fifo sidecar']


@pytest.mark.parametrize('case', BAD_FILES)
def test_malformed_files_give_one_checkpoint_error_naming_file_problem_and_fix(
        tiny: torch.nn.Module, tmp_path: Path, case: str) -> None:
    path, expect = _bad_files(tmp_path, tiny)[case]
    with pytest.raises(CheckpointError, match=expect):
        load_model(path)   # a FIFO or device would block or read forever if it were opened


def test_a_sidecar_that_is_not_ours_is_ignored(tiny: torch.nn.Module, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    path, _ = _bad_files(tmp_path, tiny)['sidecar list']
    with caplog.at_level(logging.WARNING):
        assert load_model(path).config.embed_dim == 64   # architecture from the shapes
    assert 'side_list.json: not a depth_anything_ros.checkpoint/1 sidecar' in caplog.text


def test_format_comes_from_the_bytes_not_the_name(tiny: torch.nn.Module, tmp_path: Path) -> None:
    st = export_model(tiny, tmp_path / 'model.safetensors')
    renamed = tmp_path / 'renamed.pth'
    renamed.write_bytes(st.read_bytes())
    assert_same_weights(load_model(renamed), tiny)
    with pytest.raises(CheckpointError, match='renamed.pth is a safetensors file'):
        load_checkpoint(renamed)


def test_training_checkpoint_reader_refuses_devices_and_junk(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match='/dev/zero is a character device'):
        load_checkpoint('/dev/zero')
    (tmp_path / 'last.pt').write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='last.pt is not a PyTorch'):
        load_checkpoint(tmp_path / 'last.pt')
    with pytest.raises(FileNotFoundError, match='gone.pt does not exist'):
        load_checkpoint(tmp_path / 'gone.pt')
    (tmp_path / 'link.pt').symlink_to(tmp_path / 'nowhere.pt')
    with pytest.raises(FileNotFoundError, match='link.pt is a broken symbolic link'):
        load_checkpoint(tmp_path / 'link.pt')


@pytest.mark.ros
@pytest.mark.parametrize('checkpoint', ['/dev/zero', '{tmp}/text.pth'])
@pytest.mark.slow
def test_node_prints_one_fatal_line_and_exits_1_for_a_bad_checkpoint(
        spawn, tmp_path: Path, checkpoint: str) -> None:
    (tmp_path / 'text.pth').write_text('hello world\n')
    checkpoint = checkpoint.replace('{tmp}', str(tmp_path))
    proc = spawn('-m', 'depth_anything_ros.commands.cli', 'run', '--ros-args',
                 '-p', f'checkpoint:={checkpoint}')
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert 'Traceback' not in out, out
    fatal = [line for line in out.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and checkpoint in fatal[0], out
