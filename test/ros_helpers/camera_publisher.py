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

"""A synthetic camera for the node tests: Image + CameraInfo at a fixed rate, same stamps.

    python camera_publisher.py --rate 30 --duration 5 [--width 320 --height 240]
        [--encoding rgb8] [--pad 8] [--bad EVERY] [--no-info] [--info-size WxH] [--compressed]

Prints ``PUBLISHED <n>`` when done. ``--bad N`` makes every Nth frame malformed (cycling
through unsupported encoding, truncated data and an uncalibrated CameraInfo).
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

FX, FY = 200.0, 210.0


def make_pixels(width: int, height: int, channels: int, t: int) -> np.ndarray:
    """Return a moving gradient with a bright square (the network needs some structure)."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx + 3 * t) % 256).astype(np.uint8)
    img = np.stack([base, (yy % 256).astype(np.uint8), 255 - base, np.full_like(base, 255)], -1)
    img[height // 3:height // 2, width // 3:width // 2, :3] = 250
    return img[..., :channels] if channels > 1 else img[..., 0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--duration', type=float, default=5.0)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--encoding', default='rgb8')
    parser.add_argument('--pad', type=int, default=0, help='bytes of padding after each row')
    parser.add_argument('--bad', type=int, default=0, help='every Nth frame is malformed')
    parser.add_argument('--no-info', action='store_true')
    parser.add_argument('--info-size', default='', help='WxH calibration size (default: image)')
    parser.add_argument('--distort', type=float, default=0.0,
                        help='k1 of a plumb_bob distortion in camera_info (pixels unchanged)')
    parser.add_argument('--static', action='store_true', help='the same picture every frame')
    parser.add_argument('--compressed', action='store_true',
                        help='publish JPEG CompressedImage on camera/image/compressed instead')
    args, ros_args = parser.parse_known_args()
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}[args.encoding]
    iw, ih = (map(int, args.info_size.split('x')) if args.info_size
              else (args.width, args.height))
    sent = 0
    try:
        with rclpy.init(args=[sys.argv[0], *ros_args]):
            node = Node('synthetic_camera')
            pub_img = node.create_publisher(Image, 'camera/image', qos_profile_sensor_data)
            pub_jpeg = node.create_publisher(CompressedImage, 'camera/image/compressed',
                                             qos_profile_sensor_data)
            pub_info = node.create_publisher(CameraInfo, 'camera/camera_info',
                                             qos_profile_sensor_data)
            period = 1.0 / args.rate
            end = time.monotonic() + args.duration
            next_t = time.monotonic()
            while time.monotonic() < end and rclpy.ok():
                sent += 1
                stamp = node.get_clock().now().to_msg()
                px = make_pixels(args.width, args.height, channels,
                                 0 if args.static else sent)
                rows = px.reshape(args.height, -1)
                rows = np.hstack([rows, np.zeros((args.height, args.pad), np.uint8)])
                img = Image(height=args.height, width=args.width, encoding=args.encoding,
                            step=rows.shape[1], data=rows.tobytes())
                img.header.stamp, img.header.frame_id = stamp, 'camera_optical_frame'
                info = CameraInfo(width=iw, height=ih, distortion_model='plumb_bob')
                sx, sy = iw / args.width, ih / args.height
                cx, cy = 0.45 * iw, 0.55 * ih   # deliberately not the image centre
                info.k = [FX * sx, 0.0, cx, 0.0, FY * sy, cy, 0.0, 0.0, 1.0]
                info.p = [FX * sx, 0.0, cx, 0.0, 0.0, FY * sy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
                info.d = [args.distort, 0.0, 0.0, 0.0, 0.0]
                info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
                info.header = img.header
                if args.bad and sent % args.bad == 0:
                    kind = (sent // args.bad) % 3
                    if kind == 0:
                        img.encoding = 'bayer_rggb8'
                    elif kind == 1:
                        img.data = img.data[:-7]
                    else:
                        info.k = [0.0] * 9
                        info.p = [0.0] * 12
                if not args.no_info:
                    pub_info.publish(info)
                if args.compressed:
                    bgr = px[..., 2::-1] if channels >= 3 else px
                    jpeg = CompressedImage(format='jpeg',
                                           data=cv2.imencode('.jpg', bgr)[1].tobytes())
                    jpeg.header = img.header
                    pub_jpeg.publish(jpeg)
                else:
                    pub_img.publish(img)
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
            node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(f'PUBLISHED {sent}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
