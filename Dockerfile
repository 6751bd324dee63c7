# bananabot: one process serving every configured platform, state in the /data volume.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
# Installing registers the adapters' entry points (bananabot.adapters): the bot finds them there.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data bananabot \
    && mkdir -p /data /config \
    && chown bananabot /data

USER bananabot
VOLUME ["/data"]
# Mount config.toml read-only at /config/config.toml; secrets may come from the environment.
ENV BANANABOT_DATA_DIR=/data
CMD ["bananabot", "run", "--config", "/config/config.toml"]
