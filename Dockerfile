# lcm-bot image. Torch from PyPI ships its own CUDA libraries; run with the NVIDIA container runtime.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HOME=/models \
    DATABASE_URL=sqlite+aiosqlite:////data/lcm-bot.sqlite3

RUN useradd --create-home --uid 1000 lcm && mkdir -p /models /data && chown lcm:lcm /models /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY generation ./generation
COPY storage ./storage
RUN pip install --no-cache-dir .

USER lcm
VOLUME ["/models", "/data"]
ENTRYPOINT ["lcm-bot"]
CMD ["run"]
