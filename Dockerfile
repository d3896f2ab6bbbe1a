# One image for every part of Journeys: the API (default command), the worker and the
# migrate job. docker-compose.yml picks the command per service:
#   journeys api --host 0.0.0.0 | journeys worker | journeys migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    JOURNEYS_HOME=/var/lib/journeys

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so that a code change does not
# reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY journeys/ journeys/
COPY api/ api/
COPY workflows/ workflows/
COPY activities/ activities/
COPY templates/ templates/
# README.m[d]: pyproject names README.md as the long description; the glob lets the image
# build in a checkout without it too (setuptools then only warns).
COPY worker.py README.m[d] ./

# Editable install, run from source in /app. A regular `pip install .` would install the
# packages (journeys/storage/migrations/versions included: setuptools finds it as a
# namespace package) into site-packages but not templates/, which is no package:
# Settings.templates_dir is <checkout>/templates and would point into site-packages.
# Installed editable, the packages stay in /app, so templates/ and the migrations are
# found where the code expects them, and the `journeys` console script still exists.
# --no-deps: installed above.
RUN pip install --no-cache-dir --no-deps -e . \
 && python -m compileall -q journeys api workflows activities worker.py

# Not root. JOURNEYS_HOME is the only place the app writes to (a dev API key file or a
# SQLite database when none is configured; the compose stack uses PostgreSQL).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/journeys --shell /usr/sbin/nologin journeys \
 && install -d -o journeys -g journeys /var/lib/journeys
USER journeys

EXPOSE 8000
CMD ["journeys", "api", "--host", "0.0.0.0"]
