# syntax=docker/dockerfile:1
# lcm-bot on an NVIDIA GPU. Build and start with `docker compose up -d` (compose.yaml, README "Run in
# Docker"). Needs the NVIDIA driver and the NVIDIA Container Toolkit on the host. torch's wheels
# bring the CUDA libraries they were built with (the nvidia-* wheels in requirements/cuda.txt), so
# the base is plain Python, not a CUDA image that would ship a second copy of them. Python 3.11, the
# version the tests run on and the lock was resolved for.

# --- build: the locked packages into a virtual environment ----------------------------------------
FROM python:3.11-slim-trixie AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# The lock alone first, so that a change of code reuses this multi-GB layer. Every package is pinned
# with its hashes, and pip refuses anything unlisted. pip's cache lives outside the image (a BuildKit
# cache mount): a rebuild after a re-lock downloads only what changed.
COPY requirements/cuda.txt requirements/cuda.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r requirements/cuda.txt

# The project itself, built with the locked setuptools; no dependency is resolved here.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY generation ./generation
COPY storage ./storage
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

# --- runtime: the same base, the virtual environment, nothing of the build ------------------------
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models/huggingface \
    LCM_TINY_CACHE=/models/lcm-bot-tiny

# A non-root user. The model cache and the data folder (the default DATABASE_URL is
# ./data/lcm-bot.sqlite3 under /app) are volumes owned by it.
RUN groupadd --system --gid 10001 lcm \
    && useradd --system --uid 10001 --gid lcm --create-home --home-dir /home/lcm lcm \
    && mkdir -p /models /app/data \
    && chown lcm:lcm /models /app/data

# The venv's interpreter links to /usr/local/bin/python3, which this stage's base has too.
COPY --from=build /opt/venv /opt/venv

WORKDIR /app

USER 10001:10001
VOLUME ["/models", "/app/data"]

# `lcm-bot health` asks the bot's own /healthz (LCM_HTTP_HOST/LCM_HTTP_PORT, 127.0.0.1:8765 by
# default): healthy while Discord is connected and the GPU engine runs. The endpoint starts once
# the models are loaded; a first start downloads several GB, hence the long start period.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20m --retries=3 CMD ["lcm-bot", "health"]

# `lcm-bot run` migrates the database at every start, then connects; no separate step is needed.
# Other commands: `docker compose run --rm lcm-bot doctor`, `... db backup /app/data/backup.sqlite3`.
# lcm-bot drains on SIGTERM (running batches finish, queued jobs stay journaled) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["lcm-bot"]
CMD ["run"]
