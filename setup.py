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

"""ament_python package definition for depth_anything_ros."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'depth_anything_ros'


def _share(subdir: str, pattern: str) -> tuple[str, list[str]]:
    """Install every file matching ``subdir/pattern`` into ``share/PACKAGE/subdir``."""
    return (os.path.join('share', PACKAGE, subdir), sorted(glob(os.path.join(subdir, pattern))))


def _requirements(path: str) -> list[str]:
    """Return the requirement lines of ``path`` (comments and blank lines left out)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), path)) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['py.typed', 'data/demo_stream/*', 'data/models/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        _share('launch', '*.launch.py'),
        _share('config', '*.yaml'),
        _share('config', '*.xml'),
        _share('config/training', '*.yaml'),
        _share('config/examples', '*.yaml'),
        _share('rviz', '*.rviz'),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml'],
    # optional: the model families on Hugging Face transformers (requirements/hf.txt pins the
    # same), and --engine ray (the pins of requirements/ray.txt, read here: written once)
    extras_require={'hf': ['transformers==5.25.0', 'pillow'],
                    'diffusers': ['diffusers==0.42.1', 'scipy==1.17.1', 'transformers==5.25.0',
                                  'pillow'],
                    'ray': _requirements('requirements/ray.txt')},
    python_requires='>=3.10',  # PEP 604 unions evaluated at import (e.g. params.Value)
    zip_safe=True,
    maintainer='depth_anything_ros maintainers',
    maintainer_email='maintainers@depth-anything-ros.dev',
    description='Depth Anything V2 monocular depth for ROS 2: depth images, point clouds, '
                'metric fine-tuning and distillation.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = depth_anything_ros.ros.node:main',
            'depth_lifecycle_node = depth_anything_ros.ros.lifecycle_node:main',
            'depth-anything-ros = depth_anything_ros.commands.cli:main',
        ],
    },
)
