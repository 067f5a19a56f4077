# lcm-bot on an NVIDIA GPU. Build and start with `docker compose up -d` (compose.yaml, README "Docker").
# Needs the NVIDIA driver and the NVIDIA Container Toolkit on the host. torch's wheels carry the CUDA
# libraries they were built with; the CUDA base image gives the toolkit what it expects to find.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

# PyTorch's index for a CUDA 12.8 build of torch; where it has none for the pinned torch, pip takes
# PyPI's default (also a CUDA build). Override with --build-arg to match an older driver.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models/huggingface \
    LCM_TINY_CACHE=/models/lcm-bot-tiny

# Ubuntu 24.04's Python 3.12 in a virtual environment (apt owns the system one). Package versions
# are not pinned: Ubuntu's archive keeps only the current (security-patched) one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

# A non-root user (Ubuntu's image already has uid 1000). The model cache and the data folder
# (the default DATABASE_URL is ./data/lcm-bot.sqlite3 under /app) are volumes owned by it.
RUN groupadd --system --gid 10001 lcm \
    && useradd --system --uid 10001 --gid lcm --create-home --home-dir /home/lcm lcm \
    && mkdir -p /models /app/data \
    && chown lcm:lcm /models /app/data

WORKDIR /app

# The dependencies first (the big layer), pinned by constraints/cpu.txt to the versions the test
# suite ran with (it pins versions only; the CUDA build comes from the index), then the code.
COPY pyproject.toml README.md ./
COPY constraints ./constraints
RUN python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" \
        -c constraints/cpu.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY bot ./bot
COPY generation ./generation
COPY storage ./storage
RUN pip install --no-cache-dir --no-deps .

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
