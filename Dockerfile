# syntax=docker/dockerfile:1
# oauthctl in a small image: built with the release profile in the Rust image, shipped on
# distroless/cc (glibc and libgcc only: SQLite is compiled in, TLS is rustls with its own roots),
# as a non-root user, with `oauthctl` as the entry point:
#   docker build -t oauthctl .
#   docker run --rm -e DATABASE_URL oauthctl cleartokens --max-duration 50m --format json
# No container engine runs on the project's own machines: .github/workflows/ci.yml builds and
# runs this image.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Cache mounts keep the registry and the build folder between builds without putting them into
# a layer; the binary is copied out of the cached target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin oauthctl \
    && install -D -m 0755 target/release/oauthctl /out/oauthctl

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/oauthctl /usr/local/bin/oauthctl
# distroless's `nonroot` user (uid 65532); deploy/kubernetes/cronjob.yaml runs as the same uid.
USER 65532:65532
ENTRYPOINT ["oauthctl"]
CMD ["--help"]
