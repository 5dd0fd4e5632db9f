# A local stand-in for python:3.x-slim-bookworm, built on a debootstrapped Debian base: the
# interpreter as `python`, its venv module, and the CA bundle this machine's pip trusts (so pip
# inside the project's Dockerfiles reaches the package registry exactly as it does here).
ARG DEBIAN_IMAGE=t2v-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY pip-ca-bundle.crt /etc/ssl/certs/pip-ca-bundle.crt
ENV PIP_CERT=/etc/ssl/certs/pip-ca-bundle.crt
