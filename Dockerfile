# One image for every newsbot process: webhook receivers (`newsbot run --webhook ...`) and
# workers (`newsbot worker --role ...`). docker-compose.yml starts the scaled-out layout.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY push push
COPY views views
COPY digest digest
COPY storage storage
RUN pip install . && useradd --create-home --uid 10001 newsbot

# No .env inside the image: settings come from the environment (docker compose's env_file).
USER newsbot
WORKDIR /home/newsbot
ENTRYPOINT ["newsbot"]
CMD ["run"]
