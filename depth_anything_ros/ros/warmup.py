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

"""Warm-up and size memory: engines are built before the first frame of a size needs them.

The first frame of a camera size builds that shape's engine (seconds with some backends). Once
the size is known (camera_info, or the ``calib_*`` parameters) the worker runs a dummy frame of
it while no real frame waits; sizes seen are kept so each is warmed once. Each camera's size is
remembered in the engine cache, so after a restart even the first image finds its engine built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depth_anything_ros.backends.engine_cache import remember_camera_size, remembered_camera_size
from depth_anything_ros.core.camera_stage import CameraStage

__all__ = ['WarmUp']

_THROTTLE_S = 5.0


class WarmUp:
    """The pending warm-up size, the sizes warmed and the sizes remembered per camera key."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self.sizes: set[tuple[int, int]] = set()   # (height, width) warmed or seen
        self.pending: tuple[int, int] | None = None
        self.ms: float | None = None               # the last warm-up's time
        self.cache_dir = Path()
        self.remembered: dict[str, tuple[int, int]] = {}

    def start(self, cache_dir: Path, cameras: list[tuple[str, CameraStage]]) -> None:
        """Forget the sizes seen and ask for each camera's known size: parameters, else memory."""
        self.sizes.clear()
        self.cache_dir = cache_dir
        self.remembered = {}
        for key, stage in cameras:
            cfg = stage.cfg
            remembered = remembered_camera_size(cache_dir, key)
            if cfg.calib_width > 0 and cfg.calib_height > 0:
                self.request(cfg.calib_height, cfg.calib_width, stage)
            elif remembered is not None:
                self.remembered[key] = remembered
                self.request(*remembered, stage)

    def request(self, height: int, width: int, stage: CameraStage) -> None:
        """Ask for a warm-up at ``height`` x ``width`` unless done or refused by the limits."""
        if not stage.accepts_size(width, height):   # never build an engine for refused frames
            return
        if (height, width) not in self.sizes:
            self.sizes.add((height, width))
            self.pending = (height, width)

    def camera_info(self, key: str, height: int, width: int, stage: CameraStage) -> None:
        """Take the size a camera_info describes."""
        self.request(height, width, stage)
        if key not in self.remembered:
            # only until a frame arrives: frames record the image's real size, which a scaled
            # calibration does not give (the two alternating would rewrite the file each time)
            self.remember(key, height, width)

    def frame(self, key: str, height: int, width: int) -> None:
        """Take a real frame's size: it warms its own size, and is remembered."""
        self.sizes.add((height, width))
        self.remember(key, height, width)
        if self.pending == (height, width):
            self.pending = None

    def remember(self, key: str, height: int, width: int) -> None:
        """Keep ``key``'s size for the next start (a file write only when it changes)."""
        if self.remembered.get(key) == (height, width):
            return
        self.remembered[key] = (height, width)
        try:
            remember_camera_size(self.cache_dir, key, height, width)
        except OSError as exc:   # a read-only cache only costs the next start its warm-up
            self._logger.warning(f'cannot remember the camera size in {self.cache_dir}: {exc}',
                                 throttle_duration_sec=_THROTTLE_S)

    def run(self, estimator: Any, closed: bool) -> None:
        """Run the pending warm-up (worker thread, only while no real frame waits)."""
        size, self.pending = self.pending, None
        if size is None or not hasattr(estimator, 'warmup') or closed:
            return
        try:
            self.ms = estimator.warmup(*size)
        except (ValueError, RuntimeError) as exc:
            self._logger.warning(f'warm-up at {size[1]}x{size[0]} failed: {exc}')
            return
        self._logger.info(f'warmed up for {size[1]}x{size[0]} images in {self.ms:.0f} ms')
