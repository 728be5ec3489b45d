"""The KiTS19 inference set as MLPerf uses it, in the KiTS layout:

    <dir>/case_XXXXX/imaging.nii.gz        CT volume
    <dir>/case_XXXXX/segmentation.nii.gz   labels: 0 background, 1 kidney, 2 tumour

QSL index i is the i-th case of meta/inference_cases.json (43 cases; case_00400 is a copy of case_00185),
the order the reference's preprocessed_files.pkl lists them in. The first open preprocesses every case
once (preprocess.py) into ``<cache>/kits19-<key>/``: case_XXXXX.image.npy, case_XXXXX.label.npy and a
manifest.json recording, per case, the raw files' sizes and times, the arrays' shape and sha256, and the
md5 of the reference's pickle of the case, checked against meta/checksum_inference.json. Later opens
re-hash the cached files: a case whose raw files changed or whose cached arrays no longer match the
manifest is preprocessed again.

A demo folder (DEMO_DATA.txt present) carries its own inference_cases.json and checksum_inference.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.common import DEMO_MARKER, file_sha256
from harness.errors import HarnessError
from models import cache_check
from models.base import Dataset
from models.unet3d import preprocess
from models.unet3d.checksum import reference_md5

META_DIR = Path(__file__).resolve().parent / "meta"
CASES_FILE = "inference_cases.json"
CHECKSUM_FILE = "checksum_inference.json"
MANIFEST = "manifest.json"
INPUT_NAME = "image"
_FETCH = "python scripts/fetch_kits19.py (then python scripts/prepare_kits19.py), or run with --demo"


def read_meta(meta_dir: Path) -> tuple[list[str], dict[str, str]]:
    """(case names in QSL order, reference md5 per case) from a meta folder."""
    try:
        cases = json.loads((meta_dir / CASES_FILE).read_text())
        sums = json.loads((meta_dir / CHECKSUM_FILE).read_text())
    except FileNotFoundError as exc:
        raise HarnessError(f"{exc.filename} not found", "restore it from the repository (models/unet3d/meta)") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{meta_dir}: {CASES_FILE} or {CHECKSUM_FILE} is not valid JSON ({exc})") from None
    if not isinstance(cases, list) or not all(isinstance(c, str) for c in cases) or not cases:
        raise HarnessError(f"{meta_dir / CASES_FILE} must be a list of case names")
    checksums = {str(k).removesuffix(".pkl"): str(v) for k, v in dict(sums).items()}
    return cases, checksums


def _raw_stat(case_dir: Path) -> dict[str, list[int]]:
    out = {}
    for name in (preprocess.IMAGE_FILE, preprocess.LABEL_FILE):
        stat = (case_dir / name).stat()
        out[name] = [stat.st_size, stat.st_mtime_ns]
    return out


@dataclass
class _Built:
    case: str
    shape: list[int] | None = None
    md5: str = ""
    error: str = ""


def _build_case(case: str, case_dir: str, out_prefix: str) -> _Built:
    """Preprocess one case into <out_prefix>.image.npy / .label.npy partial files (runs in a worker)."""
    try:
        image, label = preprocess.preprocess_case(Path(case_dir))
    except preprocess.CaseError as exc:
        return _Built(case, error=str(exc))
    np.save(out_prefix + ".image.partial.npy", image)
    np.save(out_prefix + ".label.partial.npy", label)
    return _Built(case, list(image.shape), reference_md5(image, label))


class KitsDataset(Dataset):
    """Ragged samples: one (1, D, H, W) float32 volume per case, loaded whole."""

    name = "kits19-inference"

    def __init__(self, data_dir: Path, cache_root: Path, verify_checksums: bool = True,
                 workers: int | None = None) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        if not data_dir.is_dir():
            raise HarnessError(f"KiTS19 folder {data_dir} not found", _FETCH)
        self.is_demo = (data_dir / DEMO_MARKER).exists()
        if self.is_demo:
            self.name = "kits19-format demo set"
        self.meta_dir = data_dir if self.is_demo else META_DIR
        self.cases, self.checksums = read_meta(self.meta_dir)
        self.verify_checksums = verify_checksums
        self.notes: list[str] = []
        if not verify_checksums:
            self.notes.append(f"preprocessed cases not checked against {CHECKSUM_FILE} (verify_checksums false)")
        missing = [c for c in self.cases if not (data_dir / c).is_dir()]
        if missing:
            raise HarnessError(
                f"{len(missing)} of the {len(self.cases)} KiTS19 inference cases are missing from {data_dir}: "
                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                f"every case of {self.meta_dir / CASES_FILE} is needed (case_00400 is a copy of case_00185): "
                + _FETCH)
        key = hashlib.sha256("\n".join([preprocess.PREPROCESS_VERSION, str(data_dir.resolve()), *self.cases])
                             .encode()).hexdigest()[:16]
        self.cache_dir = cache_root / f"kits19-{len(self.cases)}-{key}"
        if workers is None:
            workers = 1 if self.is_demo else max(1, min(4, (os.cpu_count() or 1) // 2))
        self._workers = workers
        self._entries = self._open_cache()
        self.shapes = [tuple(self._entries[c]["shape"]) for c in self.cases]

    # -- Dataset ------------------------------------------------------------
    @property
    def total_count(self) -> int:
        return len(self.cases)

    def sample_ids(self) -> list[str]:
        return list(self.cases)

    def load_sample(self, index: int) -> dict[str, np.ndarray]:
        return {INPUT_NAME: np.load(self._path(self.cases[index], "image"))}

    def label(self, index: int) -> np.ndarray:
        """The preprocessed ground truth (1, D, H, W) uint8 of sample ``index``."""
        return np.load(self._path(self.cases[index], "label"))

    def describe(self) -> str:
        return super().describe() + f" (preprocessed in {self.cache_dir})"

    # -- cache ----------------------------------------------------------------
    def _path(self, case: str, kind: str) -> Path:
        return self.cache_dir / f"{case}.{kind}.npy"

    def _manifest_path(self) -> Path:
        return self.cache_dir / MANIFEST

    def _read_manifest(self) -> dict[str, Any]:
        manifest = cache_check.read_meta(self._manifest_path())
        if manifest is None or manifest.get("version") != preprocess.PREPROCESS_VERSION:
            return {}
        cases = manifest.get("cases")
        return cases if isinstance(cases, dict) else {}

    def _write_manifest(self, entries: dict[str, Any]) -> None:
        body = {"version": preprocess.PREPROCESS_VERSION, "source": str(self.data_dir.resolve()),
                "checksums": str(self.meta_dir / CHECKSUM_FILE), "cases": entries}
        cache_check.write_meta(self._manifest_path(), body)

    def _stale_reason(self, case: str, entry: Any) -> str | None:
        """Why a cached case cannot be used as is (None: it can)."""
        if not isinstance(entry, dict):
            return "not cached yet"
        if entry.get("raw") != _raw_stat(self.data_dir / case):
            return "its raw files changed"
        if self.verify_checksums and not entry.get("checksum_verified"):
            return "it was cached without the checksum check"
        for kind in ("image", "label"):
            path = self._path(case, kind)
            if not path.is_file():
                return f"{path.name} is missing"
            if file_sha256(path) != entry.get(f"{kind}_sha256"):
                return f"{path.name} does not match the manifest (damaged or changed)"
        return None

    def _open_cache(self) -> dict[str, Any]:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        entries = self._read_manifest()
        todo = []
        for case in self.cases:
            reason = self._stale_reason(case, entries.get(case))
            if reason is None:
                continue
            if case in entries:
                print(f"{case}: preprocessing again ({reason})", file=sys.stderr, flush=True)
                del entries[case]
            todo.append(case)
        if todo:
            self._build(todo, entries)
        return entries

    def _build(self, todo: list[str], entries: dict[str, Any]) -> None:
        started = time.monotonic()
        print(f"preprocessing {len(todo)} KiTS19 case(s) from {self.data_dir} into {self.cache_dir} "
              f"(once; later runs reuse it)", file=sys.stderr, flush=True)
        jobs = [(case, str(self.data_dir / case), str(self._partial_prefix(case))) for case in todo]
        try:
            if self._workers > 1 and len(todo) > 1:
                # Leaving the pool waits for the cases still running, so no partial file is left behind.
                with ProcessPoolExecutor(min(self._workers, len(todo))) as pool:
                    futures = [pool.submit(_build_case, *job) for job in jobs]
                    try:
                        for done, future in enumerate(futures, 1):
                            self._accept(future.result(), entries, done, len(todo), started)
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
            else:
                for done, job in enumerate(jobs, 1):
                    self._accept(_build_case(*job), entries, done, len(todo), started)
        finally:
            self._remove_partials()

    def _partial_prefix(self, case: str) -> Path:
        """Where this process's workers write a case before it is checked (unique per process)."""
        return self.cache_dir / f"{case}.{os.getpid()}"

    def _remove_partials(self) -> None:
        for partial in self.cache_dir.glob(f"*.{os.getpid()}.*.partial.npy"):
            partial.unlink(missing_ok=True)

    def _accept(self, built: _Built, entries: dict[str, Any], done: int, total: int, started: float) -> None:
        case = built.case
        case_dir = self.data_dir / case
        if built.error:
            raise HarnessError(f"KiTS19 case {case} cannot be used: {built.error}",
                               f"re-download {case_dir} ({_FETCH})")
        expected = self.checksums.get(case)
        verified = False
        if self.verify_checksums:
            if expected is None:
                raise HarnessError(f"KiTS19 case {case} has no checksum in {self.meta_dir / CHECKSUM_FILE}",
                                   "restore the file from the repository")
            if built.md5 != expected:
                raise HarnessError(
                    f"KiTS19 case {case}: the preprocessed volume's md5 {built.md5} does not match "
                    f"{self.meta_dir / CHECKSUM_FILE} ({expected}); {case_dir} is not the case MLPerf uses",
                    f"re-download {case_dir} ({_FETCH}); to run on it anyway, set the model option "
                    "verify_checksums: false (--set verify_checksums=false; the run records it)")
            verified = True
        entry: dict[str, Any] = {"shape": built.shape, "reference_md5": built.md5, "checksum_verified": verified,
                                 "raw": _raw_stat(case_dir)}
        for kind in ("image", "label"):
            partial = Path(f"{self._partial_prefix(case)}.{kind}.partial.npy")
            final = self._path(case, kind)
            os.replace(partial, final)
            entry[f"{kind}_sha256"] = file_sha256(final)
        entries[case] = entry
        self._write_manifest(entries)
        rate = done / max(time.monotonic() - started, 1e-9)
        print(f"  {case} {tuple(built.shape or ())} ({done}/{total}, {rate:.2f} cases/s)", file=sys.stderr,
              flush=True)
