"""Network outputs -> accuracy-log bytes: per image, its detections as float32 records of 7 values.

A record is [image_idx, ymin, xmin, ymax, xmax, score, label] with coordinates in 0-1,
as MLCommons' reference logs them (image_idx is the QSL index). An image with no
detection gets an empty response, which the accuracy script counts as "no results".
"""

from __future__ import annotations

import numpy as np

from models.base import Responses

RECORD_FLOATS = 7
RECORD_BYTES = RECORD_FLOATS * 4


def detection_records(outputs: dict[str, np.ndarray], qsl_indices: np.ndarray) -> Responses:
    """One batch of padded detections (boxes, scores, labels, count) -> contiguous records + byte offsets."""
    boxes = np.asarray(outputs["boxes"], dtype=np.float32)
    scores = np.asarray(outputs["scores"], dtype=np.float32)
    labels = np.asarray(outputs["labels"])
    batch, rows = scores.shape
    counts = np.clip(np.asarray(outputs["count"], dtype=np.int64).reshape(-1)[:batch], 0, rows)
    indices = np.asarray(qsl_indices).reshape(-1)
    if len(indices) != batch:
        raise ValueError(f"{len(indices)} QSL indices for a batch of {batch}")
    width = int(counts.max()) if batch else 0  # only the rows some image uses
    records = np.empty((batch, width, RECORD_FLOATS), dtype=np.float32)
    records[:, :, 0] = indices[:, None]
    records[:, :, 1:5] = boxes[:, :width]
    records[:, :, 5] = scores[:, :width]
    records[:, :, 6] = labels[:, :width]
    used = np.arange(width)[None, :] < counts[:, None]
    data = records[used]  # row-major: image by image, best score first
    offsets = np.zeros(batch + 1, dtype=np.int64)
    np.cumsum(counts * RECORD_BYTES, out=offsets[1:])
    return Responses(data.reshape(-1), offsets)
