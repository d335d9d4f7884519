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

"""Render the bundled demo camera stream: a small rosbag2 (MCAP) of a procedural room.

    python tools/make_demo_stream.py [--out depth_anything_ros/data/demo_stream] [--frames 24]

Topics: ``/camera/image/compressed`` (sensor_msgs/CompressedImage, JPEG) and
``/camera/camera_info`` (calibrated pinhole, principal point off-centre), 10 Hz, frame
``camera_optical_frame``. The camera slides sideways through a room with a box and a ball;
everything is ray-cast analytically in numpy, so the files are reproducible bit for bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil

import cv2
import numpy as np

WIDTH, HEIGHT = 320, 240
FX = FY = 250.0
CX, CY = 157.3, 124.6          # a real calibration is never exactly at the centre
FRAME_ID = 'camera_optical_frame'


def render(cam_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(bgr uint8 (H, W, 3), depth float32 (H, W) metres)`` seen from ``(cam_x, 0, 0)``.

    Optical frame: x right, y down, z forward. Room: floor y = 1.2, ceiling y = -1.6,
    walls x = +-2.6 and z = 7; a box and a ball stand on the floor.
    """
    u = (np.arange(WIDTH) - CX) / FX
    v = (np.arange(HEIGHT) - CY) / FY
    dx, dy = np.meshgrid(u, v)                                   # ray (dx, dy, 1): t = depth
    origin = np.array([cam_x, 0.0, 0.0])
    t = np.full((HEIGHT, WIDTH), np.inf)
    obj = np.zeros((HEIGHT, WIDTH), np.int32)

    def take(t_new: np.ndarray, ident: int) -> None:
        closer = (t_new > 1e-6) & (t_new < t)
        t[closer] = t_new[closer]
        obj[closer] = ident

    with np.errstate(divide='ignore', invalid='ignore'):
        take(np.where(dy > 0, 1.2 / dy, np.inf), 1)                     # floor
        take(np.where(dy < 0, -1.6 / dy, np.inf), 2)                    # ceiling
        take(np.where(dx < 0, (-2.6 - cam_x) / dx, np.inf), 3)          # left wall
        take(np.where(dx > 0, (2.6 - cam_x) / dx, np.inf), 3)           # right wall
        take(np.full_like(dx, 7.0), 4)                                  # back wall
        # box: x in [-1.4, -0.4], y in [0.2, 1.2], z in [3.0, 4.0] (slab method)
        lo, hi = np.array([-1.4, 0.2, 3.0]) - origin, np.array([-0.4, 1.2, 4.0]) - origin
        d = np.stack([dx, dy, np.ones_like(dx)], -1)
        t1, t2 = lo / d, hi / d
        near = np.max(np.minimum(t1, t2), axis=-1)
        far = np.min(np.maximum(t1, t2), axis=-1)
        take(np.where(near <= far, near, np.inf), 5)
        # ball: centre (1.0, 0.7, 2.6), radius 0.5
        c = np.array([1.0, 0.7, 2.6]) - origin
        a = (d * d).sum(-1)
        b = (d * c).sum(-1)
        disc = b * b - a * ((c * c).sum() - 0.25)
        take(np.where(disc >= 0, (b - np.sqrt(np.maximum(disc, 0))) / a, np.inf), 6)
    x, y, z = origin[0] + dx * t, dy * t, t                      # world points
    base = np.array([[0, 0, 0], [150, 150, 150], [225, 225, 230], [170, 190, 205],
                     [205, 200, 185], [40, 90, 200], [60, 170, 60]], np.float64)  # BGR
    colour = base[obj]
    checker = ((np.floor(x * 2) + np.floor(z * 2)) % 2 == 0)[..., None]
    colour = np.where((obj == 1)[..., None] & checker, colour * 0.6, colour)
    stripes = ((np.floor(y * 4) % 2) == 0)[..., None]
    colour = np.where((obj == 4)[..., None] & stripes, colour * 0.85, colour)
    shade = np.clip(1.15 - 0.07 * z, 0.35, 1.0)[..., None]         # farther is darker
    bgr = np.clip(colour * shade, 0, 255).astype(np.uint8)
    return bgr, z.astype(np.float32)


def write_bag(out: Path, frames: int, quality: int = 85) -> None:
    """Write ``frames`` frames to a rosbag2 MCAP directory ``out`` (replaced if present)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_HUMBLE)   # CompressedImage/CameraInfo: same in every distro
    Header = store.types['std_msgs/msg/Header']
    Time = store.types['builtin_interfaces/msg/Time']
    CompressedImage = store.types['sensor_msgs/msg/CompressedImage']
    CameraInfo = store.types['sensor_msgs/msg/CameraInfo']
    RegionOfInterest = store.types['sensor_msgs/msg/RegionOfInterest']
    if out.exists():
        shutil.rmtree(out)
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        c_img = writer.add_connection('/camera/image/compressed', CompressedImage.__msgtype__,
                                      typestore=store)
        c_info = writer.add_connection('/camera/camera_info', CameraInfo.__msgtype__,
                                       typestore=store)
        for i in range(frames):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000          # 10 Hz
            header = Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=FRAME_ID)
            bgr, _ = render(cam_x=-0.6 + 1.2 * i / max(frames - 1, 1))
            jpeg = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
            img = CompressedImage(header=header, format='jpeg', data=jpeg.reshape(-1))
            k = np.array([FX, 0, CX, 0, FY, CY, 0, 0, 1], np.float64)
            p = np.array([FX, 0, CX, 0, 0, FY, CY, 0, 0, 0, 1, 0], np.float64)
            info = CameraInfo(header=header, height=HEIGHT, width=WIDTH,
                              distortion_model='plumb_bob', d=np.zeros(5), k=k,
                              r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
                              roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                                   do_rectify=False))
            writer.write(c_info, ns, store.serialize_cdr(info, CameraInfo.__msgtype__))
            writer.write(c_img, ns, store.serialize_cdr(img, CompressedImage.__msgtype__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--out', type=Path,
                        default=Path(__file__).resolve().parents[1] / 'depth_anything_ros' /
                        'data' / 'demo_stream')
    parser.add_argument('--frames', type=int, default=24)
    args = parser.parse_args()
    write_bag(args.out, args.frames)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f'wrote {args.frames} frames to {args.out} ({size / 1024:.0f} KiB)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
