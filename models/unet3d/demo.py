"""A small KiTS19-format demo set: synthetic CT cases with a kidney-and-tumour-like labelled blob each.

Each case is written as the real ones are (case_XXXXX/imaging.nii.gz as int16 HU, segmentation.nii.gz
as uint8 labels, KiTS-style affine with the slice axis first) at a coarse, case-specific voxel spacing,
so the real reader, the resampling to 1.6 x 1.2 x 1.2 mm, the crop/pad, several windows per volume and
the stitching all run. The folder also carries its own inference_cases.json and checksum_inference.json
(the md5 of each case's preprocessed pickle, as the reference's meta/ lists them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.common import DEMO_MARKER
from models.unet3d import dataset, preprocess
from models.unet3d.checksum import reference_md5

# (raw shape z, y, x; spacing mm z, y, x): preprocessed to 128^3 (1 window), 128x192x128 (2),
# 128x192x192 (4), 256x128x128 (3) and 128^3 again from a finer, edge-padded scan.
TEMPLATES: tuple[tuple[tuple[int, int, int], tuple[float, float, float]], ...] = (
    ((64, 100, 100), (3.2, 1.5, 1.5)),
    ((60, 160, 130), (3.2, 1.2, 1.2)),
    ((40, 150, 150), (5.0, 1.5, 1.5)),
    ((100, 96, 96), (4.0, 1.6, 1.6)),
    ((80, 128, 128), (2.0, 1.0, 1.0)),
)
AIR_HU = -1000.0
TISSUE_HU = 40.0
KIDNEY_HU = 180.0
TUMOUR_HU = 90.0
NOISE_HU = 20.0


def demo_case_name(index: int) -> str:
    return f"case_{index:05d}"


def synthetic_case(index: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(int16 HU image, uint8 label, spacing) of demo case ``index``."""
    shape, spacing = TEMPLATES[index % len(TEMPLATES)]
    rng = np.random.default_rng(1000 + index)
    # Physical coordinates (mm) of every voxel centre, relative to the volume centre.
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    extent = [n * s / 2 for n, s in zip(shape, spacing)]
    body = (z / (extent[0] * 1.2)) ** 2 + (y / (extent[1] * 0.9)) ** 2 + (x / (extent[2] * 0.9)) ** 2 <= 1
    centre = [rng.uniform(-0.25, 0.25) * e for e in extent]
    radii = [rng.uniform(0.35, 0.5) * e for e in extent]
    kidney = sum(((c - m) / r) ** 2 for c, m, r in zip((z, y, x), centre, radii)) <= 1
    # The tumour sits on the kidney's rim, partly inside it.
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    tumour_centre = [m + 0.8 * r * d for m, r, d in zip(centre, radii, direction)]
    tumour_radius = 0.45 * min(radii)
    tumour = sum((c - m) ** 2 for c, m in zip((z, y, x), tumour_centre)) <= tumour_radius ** 2
    image = np.where(body, TISSUE_HU, AIR_HU)
    image = np.where(kidney, KIDNEY_HU, image)
    image = np.where(tumour, TUMOUR_HU, image)
    image = image + rng.normal(0.0, NOISE_HU, size=shape)
    label = np.zeros(shape, dtype=np.uint8)
    label[kidney] = 1
    label[tumour] = 2
    return np.round(image).astype(np.int16), label, spacing


def kits_affine(spacing: tuple[float, float, float]) -> np.ndarray:
    """KiTS19's orientation: voxel axis 0 (slices) along world z, with the in-plane axes flipped."""
    sz, sy, sx = spacing
    return np.array([[0.0, 0.0, -sx, 0.0], [0.0, -sy, 0.0, 0.0], [-sz, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def write_case(case_dir: Path, image: np.ndarray, label: np.ndarray, spacing: tuple[float, float, float]) -> None:
    import nibabel

    case_dir.mkdir(parents=True, exist_ok=True)
    affine = kits_affine(spacing)
    nibabel.save(nibabel.Nifti1Image(image, affine), case_dir / preprocess.IMAGE_FILE)
    nibabel.save(nibabel.Nifti1Image(label, affine), case_dir / preprocess.LABEL_FILE)


def write_demo_kits(dest: Path, count: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    names = [demo_case_name(i) for i in range(count)]
    checksums = {}
    for i, name in enumerate(names):
        image, label, spacing = synthetic_case(i)
        write_case(dest / name, image, label, spacing)
        checksums[f"{name}.pkl"] = reference_md5(*preprocess.preprocess_case(dest / name))
    (dest / dataset.CASES_FILE).write_text(json.dumps(names, indent=4))
    (dest / dataset.CHECKSUM_FILE).write_text(json.dumps(checksums, indent=4, sort_keys=True))
    (dest / DEMO_MARKER).write_text(
        f"{count} synthetic KiTS19-format CT cases (a labelled kidney-and-tumour blob each) written by the "
        "harness: the accuracy they give means nothing.\n")
