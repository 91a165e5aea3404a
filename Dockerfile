# syntax=docker/dockerfile:1
# mosip-partner-operator: a static (musl) binary in an otherwise empty image, running as 65532
# (nonroot). The same layout as `make image` (hack/image.sh), which needs no Docker engine:
#   /mosip-partner-operator, /etc/passwd + /etc/group (root, nonroot 65532), /home/nonroot, /tmp
#   docker build -t mosip-partner-operator:0.1.0 .

FROM rust:1-bookworm AS builder
RUN rustup target add x86_64-unknown-linux-musl
# ring's C code builds with the system gcc for the musl target; no musl-tools needed.
ENV CC_x86_64_unknown_linux_musl=gcc
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the integration test target, so its folder must exist.
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl --bin mosip-partner-operator \
 && mkdir -p /rootfs/etc /rootfs/home/nonroot /rootfs/tmp \
 && cp target/x86_64-unknown-linux-musl/release/mosip-partner-operator /rootfs/mosip-partner-operator \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group \
 && chmod 1777 /rootfs/tmp && chmod 0700 /rootfs/home/nonroot

FROM scratch
COPY --from=builder /rootfs/ /
COPY --from=builder --chown=65532:65532 /rootfs/home/nonroot /home/nonroot
USER 65532:65532
ENTRYPOINT ["/mosip-partner-operator"]
CMD ["run"]
