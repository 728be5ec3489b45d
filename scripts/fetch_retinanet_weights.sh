#!/usr/bin/env bash
# Download MLPerf's RetinaNet ResNeXt50-FPN PyTorch weights (MLCommons' reference model, zenodo record 6617981)
# into $MLPERF_DATA_DIR/models (default: data/models), where the harness finds them without --weights.
#   scripts/fetch_retinanet_weights.sh [dest dir]
set -euo pipefail
dest="${1:-${MLPERF_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}/models}"
url="https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth"
mkdir -p "$dest"
if [ -s "$dest/resnext50_32x4d_fpn.pth" ]; then
    echo "already there: $dest/resnext50_32x4d_fpn.pth"
else
    echo "downloading $url"
    curl -fL --retry 3 -o "$dest/resnext50_32x4d_fpn.pth.partial" "$url"
    mv "$dest/resnext50_32x4d_fpn.pth.partial" "$dest/resnext50_32x4d_fpn.pth"
fi
sha256sum "$dest/resnext50_32x4d_fpn.pth"
echo "use it with: make run MODEL=retinanet (found automatically) or --weights $dest/resnext50_32x4d_fpn.pth"
