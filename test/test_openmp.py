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


"""The node and the CLI ask for passive OpenMP waiting before torch loads, unless told."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ('import os, sys; from depth_anything_ros.core.openmp import prefer_passive_openmp; '
         'passive = prefer_passive_openmp(); import torch; '
         'print(passive, os.environ.get("OMP_WAIT_POLICY"))')


@pytest.mark.parametrize('given, expected', [(None, 'True PASSIVE'), ('ACTIVE', 'False ACTIVE'),
                                             ('passive', 'True passive')])
def test_passive_unless_the_user_chose(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    if given is not None:
        env['OMP_WAIT_POLICY'] = given
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert ' '.join(out[-2:]) == expected


def test_too_late_once_torch_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # noqa: F401  (loaded in this process: the OpenMP runtime is initialised)

    from depth_anything_ros.core.openmp import prefer_passive_openmp
    monkeypatch.delenv('OMP_WAIT_POLICY', raising=False)
    assert prefer_passive_openmp() is False
    assert 'OMP_WAIT_POLICY' not in os.environ
