# podpulse container image.
#
#     docker build -t podpulse:0.1.0 .
#
# The build stage runs the same scripts as CI (scripts/setup.sh installs
# the Debian build dependencies, scripts/build.sh builds) and packages the
# result with cpack; the runtime stage installs that .deb, so apt pulls in
# exactly the runtime libraries the binaries link (dpkg-shlibdeps) and
# nothing else. The test suite builds and unpacks the same package.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/setup.sh \
 && scripts/build.sh build -DCMAKE_BUILD_TYPE=Release \
      -DPODPULSE_TESTS=OFF -DPODPULSE_BENCH=OFF \
 && cd build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /src/build/podpulse_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/podpulse_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/podpulse_*.deb \
 && groupadd --gid 2000 podpulse \
 && useradd --uid 1001 --gid 2000 --no-create-home --shell /usr/sbin/nologin podpulse \
 && install -d -o 1001 -g 2000 -m 2770 /run/podpulse /var/spool/podpulse
# The socket shared with the model server, and the report spool.
VOLUME ["/run/podpulse", "/var/spool/podpulse"]
USER 1001:2000
EXPOSE 9464
ENTRYPOINT ["/usr/bin/podpulse"]
CMD ["-c", "/etc/podpulse/podpulse.ini"]
