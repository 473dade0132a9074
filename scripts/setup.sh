#!/usr/bin/env bash
# Install what podpulse needs to build and test, if it is missing.
# Debian 12 (bookworm); runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libuv1-dev libcjson-dev libinih-dev libcmocka-dev libcurl4-openssl-dev
	libmicrohttpd-dev openssl dpkg-dev python3-yaml prometheus
	python3 procps socat libhiredis-dev redis-server
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "podpulse: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
