#!/usr/bin/env bash
# Install Debian's mosquitto broker when it is missing (the MQTT sink tests start their own
# broker on a free loopback port; the packaged service is not used). Needs root.
set -euo pipefail

find_mosquitto() {
    command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; }
}

if path=$(find_mosquitto); then
    echo "mosquitto already installed: $path"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "mosquitto.sh: mosquitto is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends mosquitto
# The tests run their own broker; keep the packaged system service from holding port 1883.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    systemctl stop mosquitto || true
fi
echo "mosquitto installed: $(find_mosquitto)"
