# syntax=docker/dockerfile:1
# mosip-partner-operator: a static (musl) binary on distroless, running as 65532 (nonroot).
#   docker build -t mosip-partner-operator:0.1.0 .

FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the integration test target, so its folder must exist.
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl --bin mosip-partner-operator \
 && cp target/x86_64-unknown-linux-musl/release/mosip-partner-operator /mosip-partner-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /mosip-partner-operator /mosip-partner-operator
USER 65532:65532
ENTRYPOINT ["/mosip-partner-operator"]
CMD ["run"]
