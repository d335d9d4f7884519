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

"""Frame sources: image folders, video files, rosbag2 (MCAP and SQLite3), frame selection."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.training.sources import (
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    open_source,
    parse_shard,
    select_frames,
    SelectionStats,
    shard_of,
    source_kind,
)


def write_image_bag(path: Path, images: list[np.ndarray], *, topic: str = '/camera/image_raw',
                    encoding: str = 'rgb8', storage: str = 'mcap', pad: int = 0,
                    compressed_topic: str | None = None) -> Path:
    """Write BGR uint8 frames as sensor_msgs/Image (plus optional CompressedImage) to a rosbag2.

    ``pad`` extra bytes end every row (``step`` > width * channels), as some drivers send.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    image_t, comp_t = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(topic, image_t, typestore=store)
        cconn = (writer.add_connection(compressed_topic, comp_t, typestore=store)
                 if compressed_topic else None)
        for i, bgr in enumerate(images):
            stamp_ns = 1_000_000_000 + i * 100_000_000
            header = types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=stamp_ns // 10**9,
                                                           nanosec=stamp_ns % 10**9),
                frame_id='camera_optical_frame')
            if encoding == 'rgb8':
                pix = bgr[:, :, ::-1]
            elif encoding == 'mono8':
                pix = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None]
            else:
                pix = bgr
            h, w, c = pix.shape
            rows = np.zeros((h, w * c + pad), np.uint8)
            rows[:, :w * c] = pix.reshape(h, w * c)
            msg = types[image_t](header=header, height=h, width=w, encoding=encoding,
                                 is_bigendian=0, step=w * c + pad, data=rows.reshape(-1))
            # recorded 5 ms after the camera stamped it: readers must use the header stamp
            writer.write(conn, stamp_ns + 5_000_000, store.serialize_cdr(msg, image_t))
            if cconn is not None:
                ok, buf = cv2.imencode('.png', bgr)
                cmsg = types[comp_t](header=header, format='png', data=buf.reshape(-1))
                writer.write(cconn, stamp_ns, store.serialize_cdr(cmsg, comp_t))
    return path


def _frames(n: int, h: int = 24, w: int = 32, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_rosbag_frames_decode_exactly(tmp_path: Path, storage: str) -> None:
    frames = _frames(5)
    bag = write_image_bag(tmp_path / 'bag', frames, storage=storage, pad=4,
                          compressed_topic='/camera/image_raw/compressed')
    assert source_kind(bag) == 'bag'
    with pytest.raises(ValueError, match='pick one with --image-topic'):
        list(open_source(bag))
    refs = list(open_source(bag, topic='/camera/image_raw'))
    assert [r.index for r in refs] == list(range(5))
    assert refs[2].stamp_ns == 1_200_000_000
    assert len({r.key for r in refs}) == 5
    for ref, bgr in zip(refs, frames):
        np.testing.assert_array_equal(ref.load(), bgr)  # rgb8 with row padding -> BGR
    comp = [r.load() for r in open_source(bag, topic='/camera/image_raw/compressed')]
    for img, bgr in zip(comp, frames):
        np.testing.assert_array_equal(img, bgr)  # PNG is lossless
    with pytest.raises(ValueError, match='no image topic'):
        list(open_source(bag, topic='/nope'))


def test_mono_bag_and_single_topic_needs_no_topic(tmp_path: Path) -> None:
    frames = _frames(2)
    bag = write_image_bag(tmp_path / 'bag', frames, encoding='mono8')
    imgs = [r.load() for r in open_source(bag)]
    grey = cv2.cvtColor(frames[1], cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(imgs[1], np.repeat(grey[:, :, None], 3, axis=2))


def test_image_msg_decoding_honours_step_and_endianness() -> None:
    class Msg:
        pass

    msg = Msg()
    value = np.array([[0, 1000], [2000, 4000]], dtype='>u2')
    rows = np.zeros((2, 6), np.uint8)
    rows[:, :4] = value.view(np.uint8).reshape(2, 4)
    msg.height, msg.width, msg.step, msg.encoding, msg.is_bigendian = 2, 2, 6, 'mono16', 1
    msg.data = rows.tobytes()
    out = image_msg_to_bgr(msg)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 64], [128, 255]])  # scaled by max
    msg.encoding = 'rgb16'
    with pytest.raises(ValueError, match='unsupported image encoding'):
        image_msg_to_bgr(msg)
    msg.encoding, msg.step = 'mono16', 3
    with pytest.raises(ValueError, match='step 3 is smaller than'):
        image_msg_to_bgr(msg)
    msg.step, msg.data = 6, msg.data[:-1]
    with pytest.raises(ValueError, match='truncated'):
        image_msg_to_bgr(msg)


def test_bayer_and_compressed_messages_decode_to_bgr() -> None:
    class Msg:
        pass

    msg = Msg()
    msg.height, msg.width, msg.step, msg.is_bigendian = 4, 4, 4, 0
    msg.encoding, msg.data = 'bayer_rggb8', bytes(range(16))
    assert image_msg_to_bgr(msg).shape == (4, 4, 3)
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    jpeg = Msg()
    jpeg.format, jpeg.data = 'png', cv2.imencode('.png', grey)[1].tobytes()
    np.testing.assert_array_equal(compressed_msg_to_bgr(jpeg), np.repeat(grey[..., None], 3, 2))
    jpeg.data = b'not an image'
    with pytest.raises(ValueError, match='no JPEG or PNG header'):
        compressed_msg_to_bgr(jpeg)


def test_folder_source_order_keys_and_errors(tmp_path: Path) -> None:
    frames = _frames(3)
    (tmp_path / 'b').mkdir()
    cv2.imwrite(str(tmp_path / 'b' / 'x.png'), frames[0])
    cv2.imwrite(str(tmp_path / 'a.png'), frames[1])
    cv2.imwrite(str(tmp_path / 'c.jpg'), frames[2])
    (tmp_path / 'notes.txt').write_text('not an image')
    refs = list(open_source(tmp_path))
    assert [r.key for r in refs] == ['a.png', 'b/x.png', 'c.jpg']
    np.testing.assert_array_equal(refs[1].load(), frames[0])
    assert refs[0].path == tmp_path / 'a.png'
    (tmp_path / 'd.png').write_bytes(b'broken')
    with pytest.raises(ValueError, match='cannot decode image'):
        [r.load() for r in open_source(tmp_path)]
    with pytest.raises(ValueError, match='rosbag2 sources only'):
        open_source(tmp_path, topic='/camera')
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no images'):
        list(open_source(tmp_path / 'empty'))


def test_video_source_every_and_dedup(tmp_path: Path) -> None:
    # 12 frames: 4 distinct scenes, each held for 3 frames (a robot standing still)
    # smooth pictures (8x8 noise blown up): MJPEG keeps them close to the original
    scenes = [cv2.resize(f, (64, 64), interpolation=cv2.INTER_CUBIC)
              for f in _frames(4, 8, 8, seed=1)]
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 64))
    assert writer.isOpened()
    for scene in scenes:
        for _ in range(3):
            writer.write(scene)
    writer.release()
    assert source_kind(path) == 'video'
    refs = list(open_source(path))
    assert len(refs) == 12
    picked = [ref.index for ref, _ in select_frames(open_source(path), every=2)]
    assert picked == [0, 2, 4, 6, 8, 10]
    stats = SelectionStats()
    kept = [(ref.index, img) for ref, img in select_frames(open_source(path), dedup=0.02,
                                                           stats=stats)]
    assert [i for i, _ in kept] == [0, 3, 6, 9]  # one frame per scene
    assert stats.duplicates == 8 and stats.selected == 4
    for (_, img), scene in zip(kept, scenes):
        assert np.abs(img.astype(int) - scene).mean() < 8  # MJPEG is lossy, but it's the scene


def test_selection_shards_partition_and_skip_done(tmp_path: Path) -> None:
    for i, img in enumerate(_frames(40, 8, 8)):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), img)
    every = [ref.key for ref, _ in select_frames(open_source(tmp_path), every=3)]
    shards = [[ref.key for ref, _ in select_frames(open_source(tmp_path), every=3,
                                                   shard=(i, 3))] for i in range(3)]
    assert sorted(sum(shards, [])) == every  # union = everything, no overlap
    assert all(shards) and sum(len(s) for s in shards) == len(every)
    assert all(shard_of(k, 3) == i for i, s in enumerate(shards) for k in s)
    done = set(every[:5])
    stats = SelectionStats()
    rest = [ref.key for ref, _ in select_frames(open_source(tmp_path), every=3, done=done,
                                                stats=stats)]
    assert rest == every[5:] and stats.done == 5 and stats.subsampled == 40 - len(every)


def test_skipped_frames_are_never_decoded(tmp_path: Path) -> None:
    for i, img in enumerate(_frames(10, 8, 8)):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), img)
    loads = []
    refs = [r.__class__(r.index, r.key, lambda r=r: (loads.append(r.key), r.load())[1])
            for r in open_source(tmp_path)]
    keys = [ref.key for ref, _ in select_frames(refs, every=2, shard=(0, 2))]
    assert loads == keys


def test_parse_shard() -> None:
    assert parse_shard('1/4') == (1, 4)
    for bad in ('4/4', '1', 'a/b', '0/0'):
        with pytest.raises(ValueError, match='--shard'):
            parse_shard(bad)
