# goro in a container.
#
#   docker build -t goro .
#   docker run --rm -p 8080:8080 goro
#
# Docker's default seccomp profile blocks io_uring (io_uring_setup and
# friends), so goroutine mode would fall back to epoll there; to measure
# io_uring, run with --security-opt seccomp=unconfined (or a profile that
# allows io_uring_setup, io_uring_enter and io_uring_register).

# ---- build: the same setup script a user runs ------------------------------
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN GORO_BUILD_TYPE=Release GORO_CMAKE_ARGS="-DGORO_BUILD_TESTS=OFF -DGORO_BUILD_BENCH=OFF" scripts/setup \
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
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/goro", "--bind", "0.0.0.0", "--port", "8080", "--root", "/srv/www"]
