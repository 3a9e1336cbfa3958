#!/usr/bin/env bash
# Runs every gonut test: unit, integration, differential against NUT 2.8.0
# and a short fuzz run. Installs what the tests need when it is missing:
# Debian packages (as root) and go-task.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real NUT 2.8.0 is the reference the differential tests compare against;
# protoc checks that the committed protobuf code is fresh; certutil
# (libnss3-tools) builds the NSS database NUT's NSS-built upsmon verifies
# certificates with.
pkgs=(nut-server nut-client nut-snmp python3-nut socat protobuf-compiler libusb-1.0-0-dev pkg-config libnss3-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$(go env GOPATH)/bin:$PATH"
if ! task --version 2>/dev/null | grep -q 'v3.54.0'; then
  go install github.com/go-task/task/v3/cmd/task@v3.54.0
fi
exec task test
