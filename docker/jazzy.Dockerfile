# depth_anything_ros on ROS 2 Jazzy (Ubuntu 24.04), installed the way a robot is:
# tools/install_robot.sh, then a smoke launch. Build from the repository root:
#   docker build -f docker/jazzy.Dockerfile -t depth_anything_ros:jazzy .
#   docker build -f docker/jazzy.Dockerfile --build-arg TARGET=cuda -t depth_anything_ros:jazzy-cuda .
#   docker run --rm [--gpus all] depth_anything_ros:jazzy
# TARGET: cpu (PyTorch's CPU wheel) or cuda (the CUDA wheel; run with --gpus all).
FROM ros:jazzy-ros-base
ARG TARGET=cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY . /ws/src/depth_anything_ros
RUN /ws/src/depth_anything_ros/tools/install_robot.sh --distro jazzy --${TARGET} \
    && rm -rf /var/lib/apt/lists/*
RUN /ws/src/depth_anything_ros/tools/smoke_launch.sh /ws
CMD ["/ws/src/depth_anything_ros/tools/smoke_launch.sh", "/ws"]
