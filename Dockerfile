# goro in a container.
#
#   docker build -t goro .
#   docker run --rm -p 8080:8080 goro
#   docker run --rm -p 9090:9090 goro --port 9090 --mode thread
#
# The defaults the container needs (listen on every interface, the sample
# files) are environment variables the binary reads when a flag is not given
# (GORO_BIND, GORO_PORT, GORO_ROOT; every flag has one, see goro --help), so
# flags after the image name override them instead of repeating them.
#
# Docker's default seccomp profile blocks io_uring (io_uring_setup and
# friends), so goroutine mode would fall back to epoll there; to measure
# io_uring, run with --security-opt seccomp=unconfined (or a profile that
# allows io_uring_setup, io_uring_enter and io_uring_register).

# ---- build: the same setup script a user runs ------------------------------
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN GORO_SETUP=build GORO_BUILD_TYPE=Release GORO_CMAKE_ARGS="-DGORO_BUILD_TESTS=OFF -DGORO_BUILD_BENCH=OFF" scripts/setup \
 && mkdir -p /out/lib \
 && cp build/goro /out/goro \
 # the binary's shared libraries, except the C runtime the slim image has
 && ldd build/goro | awk '/=> \// {print $3}' \
    | grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' \
    | xargs -r -I{} cp -L {} /out/lib/

# ---- runtime: just the binary, its libraries and the sample files ----------
FROM debian:12-slim
COPY --from=build /out/goro /usr/local/bin/goro
COPY --from=build /out/lib/ /usr/local/lib/goro/
COPY www /srv/www
RUN echo /usr/local/lib/goro > /etc/ld.so.conf.d/goro.conf && ldconfig \
 && useradd --system --uid 10001 --no-create-home goro
USER goro
ENV GORO_BIND=0.0.0.0 GORO_PORT=8080 GORO_ROOT=/srv/www
EXPOSE 8080
# SIGTERM (docker stop) shuts down gracefully: in-flight requests finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/goro"]
