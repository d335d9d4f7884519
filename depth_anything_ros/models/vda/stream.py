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

"""The per-camera state of Video Depth Anything's streaming mode.

A :class:`VdaStream` keeps, for every frame of one camera since its last reset, the inputs of
the network's eight temporal attentions (four temporal modules, two attentions each; one
tensor ``[N, 1, C]`` per attention: N pixels of that level, C channels). The next frame
attends, per pixel, to a window of ``WINDOW - 1`` earlier frames plus itself, which is the
official streaming rule:

* the first frame runs alone, and its features stand in for the whole window (copied
  ``WINDOW`` times), so the second frame already sees a full window;
* the window of a later frame is the entries ``[0]`` and ``[1]`` of the kept list and its last
  ``WINDOW - 3``: entry 0 is the first frame for ever, entry 1 a frame that slides forward one
  step per frame once the list is full (an anchor reaching back like the key frames of the
  official offline windows), the rest the most recent frames;
* the list stops growing at ``GAP + 1`` entries (42 for the 32-frame window): each new frame
  past that removes entry 1.

The stream therefore holds at most 42 frames of features: about 9 MB per frame for the Small
network at 518x686 (fp32), ~370 MB in all; half that in fp16. ``reset()`` (or
:meth:`DepthEstimator.new_stream`'s caller dropping the object) frees it; a frame of another
network input size resets the stream by itself (counted, with its reason).
"""

from __future__ import annotations

from typing import Any

#: The official offline windows' overlap and interpolated frames; they fix how far back the
#: streaming mode's sliding anchor reaches (``GAP``).
OVERLAP = 10
INTERP_LEN = 8


class VdaStream:
    """The cached temporal state of one camera (see the module docstring).

    Attributes:
        frames: frames run through the stream since its last reset (0: the next one starts
            afresh).
        resets: how often the stream was reset (by :meth:`reset` or by a size change).
        last_reset: why it was last reset (None: never).

    """

    def __init__(self, window: int = 32) -> None:
        self.window_frames = window
        #: The most entries the list keeps (official: (32 - 10) * 2 - 1 - (10 - 8) + 1 = 42).
        self.keep = (window - OVERLAP) * 2 - 1 - (OVERLAP - INTERP_LEN) + 1
        self.resets = 0
        self.last_reset: str | None = None
        self._clear()

    def _clear(self) -> None:
        self._states: list[list[Any]] = []   # per kept frame: the 8 attention inputs
        self.frames = 0
        self.size: tuple[int, int] | None = None

    def reset(self, reason: str = 'reset') -> None:
        """Forget every earlier frame: the next frame runs as the first of a new stream."""
        self._clear()
        self.resets += 1
        self.last_reset = reason

    def check_size(self, size: tuple[int, int]) -> None:
        """Reset (reason: the size change) when ``size`` is not the stream's network input size."""
        if self.size is not None and self.size != size:
            self.reset(f'network input size changed from {self.size[0]}x{self.size[1]} to '
                       f'{size[0]}x{size[1]}')
        self.size = size

    def window(self) -> list[Any] | None:
        """Return the earlier frames the next frame attends to: per attention [N, WINDOW-1, C].

        None before the first frame.
        """
        if not self._states:
            return None
        import torch
        kept = self._states[:2] + self._states[-(self.window_frames - 3):]
        return [torch.cat([frame[i] for frame in kept], dim=1) for i in range(len(kept[0]))]

    def push(self, states: list[Any]) -> None:
        """Keep the attention inputs of the frame just run (``states``: one per attention)."""
        if not self._states:
            self._states = [states] * self.window_frames
        else:
            self._states.append(states)
        if self.frames + self.window_frames > self.keep:
            del self._states[1]
        self.frames += 1

    @property
    def kept_frames(self) -> int:
        """Distinct frames whose features the stream holds."""
        return len({id(s) for s in self._states})

    @property
    def nbytes(self) -> int:
        """Bytes of the cached features."""
        seen = {id(s): s for s in self._states}
        return sum(t.numel() * t.element_size() for s in seen.values() for t in s)

    def __repr__(self) -> str:
        return (f'VdaStream(frames={self.frames}, kept={self.kept_frames}, '
                f'resets={self.resets}, last_reset={self.last_reset!r})')
