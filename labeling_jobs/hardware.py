"""What the machine that runs model jobs can do: its device, job defaults that finish there,
and typical seconds per item before anything was measured on it.

The device is `STEPWISE_JOB_DEVICE` (cpu or cuda) when set; otherwise CUDA when an NVIDIA
driver is present (checked without importing torch in the web process).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling_jobs.models import JobKind


@lru_cache(maxsize=1)
def _detected_device() -> str:
    return "cuda" if Path("/proc/driver/nvidia/version").exists() else "cpu"


@lru_cache(maxsize=1)
def _cpu_has_amx_bf16() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def cpu_dtype_name() -> str:
    """The dtype of local models on CPU: `STEPWISE_CPU_DTYPE` (float32 or bfloat16), or with
    "auto" bfloat16 where the CPU multiplies bf16 in hardware (AMX), else float32."""
    name = (getattr(settings, "STEPWISE_CPU_DTYPE", "") or "float32").lower()
    if name == "auto":
        return "bfloat16" if _cpu_has_amx_bf16() else "float32"
    return name if name in ("float32", "bfloat16") else "float32"


def worker_device() -> str:
    forced = (getattr(settings, "STEPWISE_JOB_DEVICE", "") or "").lower()
    return forced if forced in ("cpu", "cuda") else _detected_device()


# Form defaults per kind that finish in minutes on each device with the demo model (see
# bench/RESULTS.md): limit caps the items; the rest are method parameters.
FORM_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        JobKind.STEP_JUDGE: {"limit": 50, "max_new_tokens": 384},
        JobKind.MC_ESTIMATE: {"limit": 5, "n_rollouts": 4, "max_new_tokens": 128},
        JobKind.FIRST_ERROR_SEARCH: {"limit": 10, "n_rollouts": 4, "max_new_tokens": 128},
        JobKind.CONSENSUS: {},
        JobKind.PAIR_JUDGE: {"limit": 50},
        JobKind.TURN_CODER: {"limit": 10},
        JobKind.PRM_SCORE: {"limit": 400},
        JobKind.PRM_TRAIN: {"max_traces": 300, "epochs": 1},
    },
    "cuda": {
        JobKind.STEP_JUDGE: {"limit": 1000, "max_new_tokens": 512},
        JobKind.MC_ESTIMATE: {"limit": 200, "n_rollouts": 8, "max_new_tokens": 256},
        JobKind.FIRST_ERROR_SEARCH: {"limit": 400, "n_rollouts": 8, "max_new_tokens": 256},
        JobKind.CONSENSUS: {},
        JobKind.PAIR_JUDGE: {"limit": 2000},
        JobKind.TURN_CODER: {"limit": 500},
        JobKind.PRM_SCORE: {"limit": 10000},
        JobKind.PRM_TRAIN: {"max_traces": 20000, "epochs": 2},
    },
}

# Seconds per item with the demo model before this machine has measured any job of the
# kind (2-core CPU figures from bench/RESULTS.md; a GPU is taken to be 20x faster).
TYPICAL_SECONDS_PER_ITEM: dict[str, float] = {
    f"{JobKind.STEP_JUDGE}:verify": 0.5,
    f"{JobKind.STEP_JUDGE}:critique": 15.0,
    JobKind.MC_ESTIMATE: 50.0,
    JobKind.FIRST_ERROR_SEARCH: 20.0,
    JobKind.CONSENSUS: 0.01,
    JobKind.PAIR_JUDGE: 1.0,
    JobKind.TURN_CODER: 5.0,
    JobKind.PRM_SCORE: 0.5,
    JobKind.PRM_TRAIN: 2.5,
}


def form_defaults(kind: str) -> dict[str, Any]:
    return dict(FORM_DEFAULTS[worker_device()].get(kind, {}))


def typical_seconds_per_item(kind: str, mode: str | None = None) -> float:
    key = f"{kind}:{mode}" if kind == JobKind.STEP_JUDGE else kind
    seconds = TYPICAL_SECONDS_PER_ITEM.get(key, TYPICAL_SECONDS_PER_ITEM.get(kind, 5.0))
    return seconds / 20 if worker_device() == "cuda" else seconds
