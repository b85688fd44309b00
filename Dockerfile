# ccxt-oms image: the package installed from this checkout, run as a non-root user.
#   docker build -t ccxt-oms .
#   docker run --rm ccxt-oms --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --home-dir /home/oms --uid 10001 --user-group oms

WORKDIR /src
COPY pyproject.toml README.md ./
COPY apps ./apps
COPY ccxt_driver ./ccxt_driver
RUN pip install . && rm -rf /src

# The working directory is writable by `oms`: the embedded SQLite default (./data/) lands here.
WORKDIR /home/oms
USER oms

EXPOSE 8000
ENTRYPOINT ["ccxt-oms"]
CMD ["--help"]
