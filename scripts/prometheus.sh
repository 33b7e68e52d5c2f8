#!/usr/bin/env bash
# Installs a real Prometheus server for the `prometheus` check's tests: the
# binary of Debian's package (pinned), unpacked under the build directory
# (no system install, no service started). Meant to be sourced: exports
# RELCTL_TEST_PROMETHEUS. Each test starts its own server on a free loopback
# port, scraping an exporter the test controls.
set -euo pipefail

PROMETHEUS_DEB_VERSION=2.42.0+ds-5+b6
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="${CARGO_TARGET_DIR:-$root/target}/prometheus"
bin="$dir/usr/bin/prometheus"

if ! [[ -x $bin ]] || ! "$bin" --version 2>&1 | grep -q "version 2.42.0"; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
    echo "the prometheus tests need Debian's prometheus package: apt-get and dpkg-deb are required (or set RELCTL_TEST_PROMETHEUS to a prometheus 2.x binary)" >&2
    exit 1
  }
  echo "installing prometheus $PROMETHEUS_DEB_VERSION (Debian package, unpacked) into $dir" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null 2>&1) || {
    apt-get update >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null)
  }
  rm -rf "$dir" && mkdir -p "$dir"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$dir"
  rm -rf "$tmp"
fi
export RELCTL_TEST_PROMETHEUS="${RELCTL_TEST_PROMETHEUS:-$bin}"
