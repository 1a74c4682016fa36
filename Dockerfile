# syntax=docker/dockerfile:1
# snapstack in a container, laid out as LocalStack's images are: port 4566, state in the volume
# at /var/lib/localstack, the same variables (README: Configuration).
#
#   docker build -t snapstack .
#   docker run --rm -p 4566:4566 -e PERSISTENCE=1 -v snapstack-data:/var/lib/localstack snapstack

ARG RUST_VERSION=1.88

FROM rust:${RUST_VERSION}-slim-bookworm AS build
# SNS signs its messages with OpenSSL (the openssl crate links the system libssl).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The command the README's install step and the tests' binary share (`cargo build --release`).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin snapstack \
    && install -m 0755 target/release/snapstack /usr/local/bin/snapstack

FROM debian:bookworm-slim
# What LocalStack users expect beside the server, for init hooks and Lambda functions: curl (and
# the health check), python3 (*.py hooks, Python functions), node (Node.js functions), and, in a
# venv first on PATH, the AWS CLI v1 (it honours AWS_ENDPOINT_URL, which hooks get) with
# `awslocal` and boto3 (so `python3` in a hook imports boto3). Debian's stable point releases
# move the apt versions under us, so those are not pinned; the pip ones are.
ARG AWSCLI_VERSION=1.46.3
ARG AWSCLI_LOCAL_VERSION=0.23.0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 python3 python3-venv nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/aws \
    && /opt/aws/bin/pip install --no-cache-dir "awscli==${AWSCLI_VERSION}" "awscli-local==${AWSCLI_LOCAL_VERSION}" \
    && groupadd --system --gid 1000 localstack \
    && useradd --system --uid 1000 --gid localstack --home-dir /var/lib/localstack --shell /usr/sbin/nologin localstack \
    && mkdir -p /var/lib/localstack /etc/localstack/init/boot.d /etc/localstack/init/start.d \
        /etc/localstack/init/ready.d /etc/localstack/init/shutdown.d \
    && chown -R localstack:localstack /var/lib/localstack /etc/localstack
COPY --from=build /usr/local/bin/snapstack /usr/local/bin/snapstack

ENV PATH=/opt/aws/bin:$PATH \
    GATEWAY_LISTEN=0.0.0.0:4566 \
    LOCALSTACK_VOLUME_DIR=/var/lib/localstack \
    SNAPSTACK_LOG=info
# A named volume copies this directory's owner, so the non-root user can write it; a bind mount
# keeps the host directory's owner: make it writable by uid 1000, or run with --user root.
VOLUME ["/var/lib/localstack"]
WORKDIR /var/lib/localstack
USER 1000:1000
EXPOSE 4566

# The port is the first GATEWAY_LISTEN address's.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bin/sh", "-c", "l=${GATEWAY_LISTEN%%,*}; curl -fsS -o /dev/null \"http://127.0.0.1:${l##*:}/_localstack/health\" || exit 1"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/snapstack"]
CMD ["serve"]
