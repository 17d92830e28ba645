#!/bin/sh
# Install, from Debian's packages, whatever Parley's build and tests need and is missing.
# Idempotent and quick when everything is there: one dpkg query, no network.
set -eu

PKGS="build-essential clang libsodium-dev libcmocka-dev zlib1g-dev libcjson-dev pkg-config valgrind \
python3 python3-cryptography python3-scapy python3-pytest python3-pytest-xdist \
python3-pytest-timeout python3-jsonschema python3-jinja2 python3-hypothesis \
redis-server gcovr cppcheck clang-tidy afl++"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done" >&2
