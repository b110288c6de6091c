#!/usr/bin/env bash
# Fetch Leaflet from the npm registry into glofwatch/webmap/static/vendor/leaflet/ (git-ignored).
#
# The web map serves Leaflet itself, so the page works with no internet. This
# script is the only way the vendor files get there: `npm pack` downloads the
# published tarball (npm checks its registry integrity hash), and leaflet.js,
# leaflet.css, images/ and the licence are copied out of it. A second run with
# the same version does nothing.
#
# Usage: bash glofwatch/webmap/fetch_assets.sh            (LEAFLET_VERSION=1.9.4 by default)
set -euo pipefail

version="${LEAFLET_VERSION:-1.9.4}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/static/vendor/leaflet"

if [ -f "$dest/leaflet.js" ] && [ -f "$dest/leaflet.css" ] && [ -f "$dest/images/layers.png" ] \
   && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "leaflet $version already in $dest"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_assets.sh: npm not found; install Node.js/npm (apt-get install -y npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$version" >/dev/null)
tar -xzf "$tmp/leaflet-$version.tgz" -C "$tmp"

stage="$tmp/stage"
mkdir -p "$stage/images"
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$stage/"
cp "$tmp/package/dist/images/"*.png "$stage/images/"
cp "$tmp/package/LICENSE" "$stage/LICENSE"
echo "$version" > "$stage/VERSION"

mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$stage" "$dest"
echo "leaflet $version -> $dest"
