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


"""OpenMP thread waiting for the processes that run the network (node, CLI commands).

torch's CPU kernels run each operator as an OpenMP parallel region. With the default (active)
wait policy a thread that reaches the region's end spins until the others arrive. On a CPU
shared with other work (camera driver, DDS, other nodes) the thread it waits for is often
descheduled, so the spinning burns the time slice it needs: measured on the 2-vCPU development
machine under a load average of ~13, ViT-S at input 140 took 4.4-7.2 s per frame with 2 threads
and the active policy, 0.21-0.42 s with the passive one (0.57-0.84 s with 1 thread either way).
On an idle CPU the passive policy costs one futex wake-up per operator (a few ms per frame).
OpenVINO uses its own (TBB) thread pool and is not affected.
"""

from __future__ import annotations

import os
import sys

__all__ = ['prefer_passive_openmp']


def prefer_passive_openmp() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy; call before torch loads.

    Returns True when the policy now in force is the passive one. Once torch (and with it the
    OpenMP runtime) is loaded the setting no longer applies, so it is left alone then.
    """
    if 'torch' not in sys.modules:
        os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return os.environ.get('OMP_WAIT_POLICY', '').upper() == 'PASSIVE'
