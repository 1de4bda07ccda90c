# Dockerfile -- ctspool on Debian bookworm-slim.  One image, two roles:
#
#   docker build -t ctspool .
#   docker run -d -v ctspool:/var/lib/ctspool -p 127.0.0.1:8765:8765 \
#       -e CTSPOOL_SERVER_API_KEYS=... ctspool serve
#   docker run -d -v ctspool:/var/lib/ctspool -e CTSPOOL_API_KEY=... \
#       -e CTSPOOL_DATA_STREAM_TOKEN=... ctspool drain
#
# Both roles share the journal on the /var/lib/ctspool volume (a local
# volume: SQLite's WAL needs shared memory and locks, so not NFS/SMB).
# scripts/compose.yaml runs both; scripts/docker-entrypoint.sh documents
# the CTSPOOL_* variables used when no config file is mounted at
# /etc/ctspool/ctspool.cfg.

# ---- build stage -------------------------------------------------------
FROM debian:bookworm-slim AS build

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libsqlite3-dev libcurl4-openssl-dev libcjson-dev libyajl-dev \
        libconfig-dev \
        libmicrohttpd-dev libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY schema/ schema/
COPY src/ src/
COPY man/ man/
# Only what the install rules need: scripts/ may hold compose env files.
COPY scripts/ctspool.cfg.example scripts/
COPY scripts/systemd/ scripts/systemd/

# No tests in the image build (BUILD_TESTING=OFF: no cmocka needed); CI
# builds with -Werror, the image does not depend on the compiler's mood.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DCTSPOOL_WERROR=OFF -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j"$(nproc)" \
 && DESTDIR=/staging cmake --install /build \
 && rm -rf /staging/usr/include /staging/usr/lib/systemd \
 && find /staging -name '*.a' -delete \
 && find /staging -type d \( -name pkgconfig -o -name cmake \) -prune \
        -exec rm -rf {} + \
 && /staging/usr/bin/ctspool --version

# ---- runtime stage -----------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libsqlite3-0 libcurl4 libcjson1 libyajl2 libconfig9 libmicrohttpd12 libssl3 \
        zlib1g \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid, so volume ownership is predictable.
RUN groupadd --system --gid 10001 ctspool \
 && useradd --system --uid 10001 --gid ctspool \
        --home-dir /var/lib/ctspool --no-create-home \
        --shell /usr/sbin/nologin ctspool \
 && install -d -o ctspool -g ctspool -m 0700 /var/lib/ctspool \
 && install -d -m 0755 /etc/ctspool

# The binary (linked statically against libctspool), the shared library
# for embedders, the man page and the example config.
COPY --from=build /staging/usr/ /usr/
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
 && ldconfig \
 && ctspool --version

USER ctspool:ctspool
WORKDIR /var/lib/ctspool
VOLUME /var/lib/ctspool
EXPOSE 8765
# ctspool handles SIGTERM: serve answers what it received, drain leaves
# unacknowledged points pending.  Give it time (docker stop -t 30).
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
