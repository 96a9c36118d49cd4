# One image for the API and the worker.
#   API (default):  uvicorn api.main:app --host 0.0.0.0 --port 8000
#   worker:         python worker.py
# Configuration comes from the environment (see motcua/settings.py and docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Installed non-editable, so the package's own ROOT is site-packages: point at the files here.
    CATALOG_PATH=/app/catalog.yaml \
    DATA_DIR=/data

WORKDIR /app

COPY pyproject.toml ./
COPY domain/ domain/
COPY store/ store/
COPY workflows/ workflows/
COPY activities/ activities/
COPY api/ api/
COPY motcua/ motcua/
COPY worker.py catalog.yaml ./

# Bytecode for the code run from /app: the worker's sandbox imports the workflow modules
# afresh for each dossier it loads, and PYTHONDONTWRITEBYTECODE (above) would leave it
# compiling them from source every time.
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info \
    && python -m compileall -q /app

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin motcua \
    && mkdir -p /data/files \
    && chown -R motcua:motcua /data
USER motcua

# Uploaded files live in DATA_DIR/files: mount a volume at /data shared by the API and the
# worker (a fresh named volume takes this directory's owner, so the non-root user can write).
EXPOSE 8000

CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
