# One image for every process of the distributed mode (gateway, services, relays, migrations);
# docker-compose.yml and the Helm chart pick the process with the command, e.g. `serve gateway`.
FROM python:3.11-slim

# Unbuffered: the JSON log lines reach `docker logs` as they are written.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 mosaic \
 && useradd --system --uid 10001 --gid mosaic --home-dir /var/lib/mosaic --create-home \
            --shell /usr/sbin/nologin mosaic

WORKDIR /src

# Dependencies first, read from pyproject, in their own layer: editing the code does not
# reinstall them. Runtime dependencies only; the dev extra never enters the image.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The package-dir roots of pyproject (mosaic, mosaic_contacts, mosaic_gateway).
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
# The industry plugins shipped with the product; partners' plugins are installed the same way
# (pip install, found through the mosaic.plugins entry point group) in an image built FROM this one.
COPY plugins ./plugins
RUN pip install --no-deps . \
 && for plugin in plugins/*/; do pip install --no-deps "$plugin" || exit 1; done \
 && rm -rf build *.egg-info plugins/*/build plugins/*/*.egg-info

# Containers listen on every interface; the embedded mode (`mosaic run`) keeps its data here.
ENV MOSAIC_HOST=0.0.0.0 \
    MOSAIC_PORT=8000 \
    MOSAIC_DATA_DIR=/var/lib/mosaic/data

USER 10001:10001
WORKDIR /var/lib/mosaic
EXPOSE 8000

ENTRYPOINT ["mosaic"]
CMD ["run"]
