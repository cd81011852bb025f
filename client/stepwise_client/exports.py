"""Export runs: the dataclass, downloading its files, and loading them with Hugging Face
`datasets` (the optional extra `stepwise-client[datasets]`)."""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepwise_client.models import FINISHED, _bound

if TYPE_CHECKING:
    from stepwise_client.client import Client

BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class ExportFile:
    """One file of a finished export. `split` and `records` are set for data files."""

    name: str
    split: str | None = None
    records: int | None = None
    bytes: int | None = None


@dataclass
class Export:
    """A training-data export: data files per split (JSONL or Parquet), `manifest.json` and a
    dataset card `README.md`. After `download()`, `local_dir` is where the files are."""

    id: int
    format: str
    status: str
    options: dict[str, Any] = field(default_factory=dict)
    progress_done: int = 0
    progress_total: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    files: list[ExportFile] = field(default_factory=list)
    created_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    project: str = ""
    local_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], *, project: str, client: Client | None) -> Export:
        from stepwise_client._parse import build

        data_files = {f["path"]: f for f in (data.get("counts") or {}).get("files", [])}
        files = []
        for f in data.get("files") or []:
            meta = data_files.get(f["name"], {})
            files.append(
                ExportFile(
                    name=f["name"],
                    split=meta.get("split"),
                    records=meta.get("records"),
                    bytes=meta.get("bytes"),
                )  # fmt: skip
            )
        return build(cls, data, files=files, project=project, _client=client)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def splits(self) -> dict[str, int]:
        """Records per split, e.g. {"train": 900, "test": 100}."""
        out: dict[str, int] = {}
        for f in self.files:
            if f.split is not None:
                out[f.split] = out.get(f.split, 0) + (f.records or 0)
        return out

    def refresh(self) -> Export:
        fresh = _bound(self._client).get_export(self.project, self.id)
        fresh.local_dir = self.local_dir
        return fresh

    def wait(
        self, *, timeout: float | None = None, progress: bool = False, raise_on_failure: bool = True
    ) -> Export:
        return _bound(self._client).wait_export(
            self, timeout=timeout, progress=progress, raise_on_failure=raise_on_failure
        )

    def download(self, out_dir: str | Path | None = None) -> Path:
        """Fetch every file of the export into `out_dir` (a new temporary folder when None),
        keeping the export's layout; returns the folder. Files are written whole or not at
        all (`*.part` renamed when complete)."""
        client = _bound(self._client)
        if not self.ok:
            raise RuntimeError(f"export {self.id} is {self.status}; wait() for it first")
        target = (
            Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="stepwise-"))
        )
        for f in self.files:
            client.download_export_file(self.project, self.id, f.name, target / f.name)
        self.local_dir = target
        return target

    def _local(self) -> Path:
        return self.local_dir if self.local_dir is not None else self.download()

    def manifest(self) -> dict[str, Any]:
        """The export's manifest.json (downloading the export first if needed)."""
        data: dict[str, Any] = json.loads(
            (self._local() / "manifest.json").read_text(encoding="utf-8")
        )
        return data

    def data_files(self) -> dict[str, list[Path]]:
        """Local data files per split, in the manifest's order (downloads first if needed)."""
        local = self._local()
        out: dict[str, list[Path]] = {}
        for f in self.manifest().get("files", []):
            out.setdefault(f["split"], []).append(local / f["path"])
        return out

    def to_datasets(self, *, cache_dir: str | Path | None = None) -> Any:
        """The export as a Hugging Face `datasets.DatasetDict`, one split per split of the
        export ("train", and "test"/"ties" when the export has them). Needs the `datasets`
        extra: `pip install 'stepwise-client[datasets]'`."""
        try:
            import datasets
        except ImportError as exc:
            raise ImportError(
                "Export.to_datasets() needs Hugging Face datasets: "
                "pip install 'stepwise-client[datasets]'"
            ) from exc
        splits = {name: paths for name, paths in self.data_files().items() if paths}
        if not splits:
            notes = " ".join(self.manifest().get("known_limits", []))
            warnings.warn(
                f"export {self.id} ({self.format}) has no records; {notes}".strip(),
                stacklevel=2,
            )
            return datasets.DatasetDict()
        suffixes = {p.suffix for paths in splits.values() for p in paths}
        if len(suffixes) != 1 or next(iter(suffixes)) not in BUILDERS:
            raise ValueError(f"cannot load export files with suffixes {sorted(suffixes)}")
        builder = BUILDERS[suffixes.pop()]
        loaded = {}
        for name, paths in splits.items():
            if all(p.stat().st_size == 0 for p in paths):
                loaded[name] = datasets.Dataset.from_dict({})
                continue
            loaded[name] = datasets.load_dataset(
                builder,
                data_files=[str(p) for p in paths],
                split="train",
                cache_dir=None if cache_dir is None else str(cache_dir),
            )
        return datasets.DatasetDict(loaded)
