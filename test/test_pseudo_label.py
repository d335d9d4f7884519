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

"""Pseudo-labelling: label storage, oracle / model teachers, resume and sharding."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_sources import write_image_bag

from depth_anything_ros.training.labels import (
    decode_png16,
    encode_png16,
    LabelSet,
    LabelWriter,
    read_index,
)
from depth_anything_ros.training.pseudo_label import depth_to_disparity, flip_tta, label_frames


def _scene(seed: int, h: int = 30, w: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Return a smooth random picture and an exact disparity map for it."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), (w, h),
                     interpolation=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = 0.2 + rng.uniform(0.5, 2.0) * yy / h + rng.uniform(-0.3, 0.3) * xx / w
    return img, disp.astype(np.float32)


class Oracle:
    """Teacher that knows the exact disparity of every frame it was shown (by pixel hash)."""

    def __init__(self, scenes: list[tuple[np.ndarray, np.ndarray]], fail_after: int = -1
                 ) -> None:
        self.table = {self._h(img): disp for img, disp in scenes}
        self.calls = 0
        self.fail_after = fail_after

    @staticmethod
    def _h(img: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        if self.calls == self.fail_after:
            raise KeyboardInterrupt  # the run is killed in the middle
        self.calls += 1
        return [self.table[self._h(im)] for im in images]


def _label_set(d: Path | list[Path]) -> dict[str, np.ndarray]:
    labels = LabelSet(d if isinstance(d, list) else [d])
    return {labels.record(i).key: labels.load_label(i) for i in range(len(labels))}


def test_png16_round_trip_is_within_half_a_step() -> None:
    d = np.random.default_rng(0).uniform(0.3, 7.0, (20, 30)).astype(np.float32)
    q, scale, offset = encode_png16(d)
    assert q.dtype == np.uint16 and q.min() == 0 and q.max() == 65535
    back = decode_png16(q, scale, offset)
    assert np.abs(back - d).max() <= 0.5 * (d.max() - d.min()) / 65535 + 1e-6
    flat = decode_png16(*encode_png16(np.full((3, 3), 2.5)))
    np.testing.assert_allclose(flat, 2.5)
    with pytest.raises(ValueError, match='finite'):
        encode_png16(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize('label_format', ['png16', 'npy16'])
def test_bag_labels_store_images_and_disparity(tmp_path: Path, label_format: str) -> None:
    scenes = [_scene(i) for i in range(6)]
    bag = write_image_bag(tmp_path / 'bag', [img for img, _ in scenes])
    out = tmp_path / 'labels'
    res = label_frames(bag, Oracle(scenes), out, meta={'teacher': 'oracle'}, batch_size=4,
                       label_format=label_format, progress=False)
    assert res.written == 6 and res.images_per_second > 0
    labels = LabelSet(out)
    assert len(labels) == 6 and labels.meta['teacher'] == 'oracle'
    assert labels.meta['source_kind'] == 'bag' and labels.meta['kind'] == 'disparity'
    tol = 1e-4 if label_format == 'png16' else 2e-3  # 16-bit steps vs float16 mantissa
    for i in range(6):
        assert labels.record(i).index == i  # keys sort in stream order
        img, disp = scenes[i]
        np.testing.assert_array_equal(labels.load_image(i), img)  # lossless copy
        np.testing.assert_allclose(labels.load_label(i), disp, atol=tol * disp.max())


def test_folder_images_are_referenced_not_copied(tmp_path: Path) -> None:
    scenes = [_scene(i) for i in range(3)]
    src = tmp_path / 'imgs'
    src.mkdir()
    for i, (img, _) in enumerate(scenes):
        cv2.imwrite(str(src / f'{i}.png'), img)
    out = tmp_path / 'labels'
    label_frames(src, Oracle(scenes), out, meta={'teacher': 'oracle'}, progress=False)
    labels = LabelSet(out)
    assert labels.image_path(1) == (src / '1.png').resolve()
    assert not (out / 'images').exists()


def test_resume_and_shards_give_the_same_label_set(tmp_path: Path) -> None:
    scenes = [_scene(i) for i in range(11)]
    bag = write_image_bag(tmp_path / 'bag', [img for img, _ in scenes])
    kw = {'meta': {'teacher': 'oracle'}, 'batch_size': 2, 'progress': False, 'every': 1}

    label_frames(bag, Oracle(scenes), tmp_path / 'one', **kw)
    reference = _label_set(tmp_path / 'one')
    assert len(reference) == 11

    # killed after 2 batches, then resumed: only the missing frames are labelled
    with pytest.raises(KeyboardInterrupt):
        label_frames(bag, Oracle(scenes, fail_after=2), tmp_path / 'resumed', **kw)
    assert len(read_index(tmp_path / 'resumed')) == 4
    again = label_frames(bag, Oracle(scenes), tmp_path / 'resumed', **kw)
    assert again.written == 7 and again.stats.done == 4
    # a torn last index line (killed while appending) is tolerated and that frame redone
    index = tmp_path / 'resumed' / 'index.jsonl'
    index.write_bytes(index.read_bytes()[:-20])
    assert label_frames(bag, Oracle(scenes), tmp_path / 'resumed', **kw).written == 1
    assert label_frames(bag, Oracle(scenes), tmp_path / 'resumed', **kw).written == 0

    # three shards into one shared directory, and three into separate directories
    sizes = []
    for i in range(3):
        sizes.append(label_frames(bag, Oracle(scenes), tmp_path / 'shared', shard=(i, 3),
                                  **kw).written)
        label_frames(bag, Oracle(scenes), tmp_path / f'part{i}', shard=(i, 3), **kw)
    assert sum(sizes) == 11 and all(sizes)
    assert len(list((tmp_path / 'shared').glob('index.shard*of3.jsonl'))) == 3

    for other in (_label_set(tmp_path / 'resumed'), _label_set(tmp_path / 'shared'),
                  _label_set([tmp_path / f'part{i}' for i in range(3)])):
        assert sorted(other) == sorted(reference)
        for key, disp in reference.items():
            np.testing.assert_array_equal(other[key], disp)


def test_mismatched_options_are_refused(tmp_path: Path) -> None:
    scenes = [_scene(i) for i in range(2)]
    bag = write_image_bag(tmp_path / 'bag', [img for img, _ in scenes])
    label_frames(bag, Oracle(scenes), tmp_path / 'l', meta={'teacher': 'a'}, progress=False)
    with pytest.raises(ValueError, match=r"teacher: 'a' there, 'b' now"):
        label_frames(bag, Oracle(scenes), tmp_path / 'l', meta={'teacher': 'b'}, progress=False)
    with pytest.raises(ValueError, match='every'):
        label_frames(bag, Oracle(scenes), tmp_path / 'l', meta={'teacher': 'a'}, every=2,
                     progress=False)
    with pytest.raises(FileNotFoundError, match='not a label directory'):
        LabelSet(tmp_path)
    with pytest.raises(ValueError, match='reference'):
        LabelWriter(tmp_path / 'x', {}, image_mode='reference', source_kind='bag')


def test_label_shape_must_match_image(tmp_path: Path) -> None:
    with LabelWriter(tmp_path / 'l', {'teacher': 't'}) as writer:
        with pytest.raises(ValueError, match='full-resolution'):
            writer.write('k', np.zeros((4, 6, 3), np.uint8), np.zeros((2, 3)), index=0)


def test_metric_teacher_depth_becomes_disparity() -> None:
    depth = np.array([[0.5, 2.0], [0.0, np.inf]], np.float32)
    np.testing.assert_allclose(depth_to_disparity(depth), [[2.0, 0.5], [0.0, 0.0]])


def test_estimator_teacher_turns_metric_depth_into_disparity() -> None:
    from depth_anything_ros.estimator import DepthResult
    from depth_anything_ros.training.pseudo_label import estimator_teacher

    class FakeEstimator:
        needs_intrinsics = False

        def __init__(self, is_metric: bool) -> None:
            self.output = 'metric' if is_metric else 'disparity'

        def estimate_batch(self, images: list[np.ndarray], encoding: str,
                           intrinsics: object = None) -> list[DepthResult]:
            assert encoding == 'bgr8'
            return [DepthResult(1.0 + im[:, :, 0].astype(np.float32)) for im in images]

    img = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    (metric,) = estimator_teacher(FakeEstimator(True))([img])
    (relative,) = estimator_teacher(FakeEstimator(False))([img])
    np.testing.assert_allclose(metric, 1.0 / (1.0 + img[:, :, 0]), rtol=1e-6)
    np.testing.assert_allclose(relative, 1.0 + img[:, :, 0])


def test_flip_tta_averages_with_the_mirrored_prediction() -> None:
    def lopsided(images: list[np.ndarray]) -> list[np.ndarray]:
        # a teacher biased towards the right edge, plus the image content
        out = []
        for im in images:
            w = im.shape[1]
            out.append(np.arange(w, dtype=np.float32)[None, :] + im[:, :, 0] / 255.0)
        return out

    img = np.random.default_rng(0).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    (tta,) = flip_tta(lopsided)([img])
    np.testing.assert_allclose(tta, 3.5 + img[:, :, 0] / 255.0, atol=1e-6)  # bias cancels


@pytest.mark.slow
def test_cli_labels_a_bag_with_an_exported_checkpoint(tmp_path: Path) -> None:
    import torch

    from depth_anything_ros.commands import cli
    from depth_anything_ros.model import build_model, export_model, ModelConfig

    torch.manual_seed(0)
    ckpt = export_model(build_model(ModelConfig.tiny()), tmp_path / 'teacher.pth')
    scenes = [_scene(i, 28, 42) for i in range(3)]
    bag = write_image_bag(tmp_path / 'bag', [img for img, _ in scenes], storage='sqlite3')
    argv = ['pseudo-label', '--teacher', str(ckpt), '--inputs', str(bag), '--out',
            str(tmp_path / 'labels'), '--input-size', '56', '--device', 'cpu', '--batch-size', '2',
            '--tta-flip', '--no-progress']
    assert cli.main(argv) == 0
    labels = LabelSet(tmp_path / 'labels')
    assert len(labels) == 3
    meta = json.loads((tmp_path / 'labels' / 'meta.json').read_text())
    assert meta['teacher_encoder'] == 'tiny' and meta['teacher_head'] == 'relative'
    assert meta['tta_flip'] is True and meta['input_size'] == 56
    assert labels.load_label(0).shape == (28, 42)
    assert cli.main(argv) == 0  # resumed: nothing left to do
    assert len(read_index(tmp_path / 'labels')) == 3
