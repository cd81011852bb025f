"""Final-answer extraction and equivalence (METHODS §0.2).

Extraction order: GSM8K `#### x`, `The answer is x`, the last `\\boxed{...}` / `\\fbox{...}`
(brace-matched, also `\\boxed 5`), then the last number. Equivalence: numbers compare with a
relative tolerance; anything else goes to `math-verify` (gold first) in a worker process with a
wall-clock timeout, because its own timeouts use signal.alarm and sympy can hang. Without
math-verify installed, normalised strings are compared.
"""

from __future__ import annotations

import logging
import math
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

logger = logging.getLogger(__name__)

NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_NUM_RE = re.compile(NUMBER)
_HASH_RE = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS_RE = re.compile(r"answer is\s*:?\s*([^\n]+)", re.IGNORECASE)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)")
GRADER_TIMEOUT_SECONDS = 5.0


def _boxed_last(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...}, braces matched; `\\boxed 5` too."""
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    for start in reversed(starts):
        rest = text[start:]
        if rest.startswith("{"):
            depth = 0
            for i, ch in enumerate(rest):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        return rest[1:i].strip()
            continue  # unbalanced: try an earlier one
        m = re.match(r"\s+([^\s$]+)", rest)
        if m:
            return m.group(1).strip()
    return None


def _clean(ans: str) -> str:
    ans = ans.strip().strip(".").strip()
    ans = ans.replace("$", "").replace("\\!", "").replace("\\,", "").strip()
    return ans.rstrip(".").strip()


def extract_answer(text: str, *, explicit_only: bool = False) -> str | None:
    """The final answer stated in a solution or rollout, or None.

    `explicit_only` skips the last-number fallback (for a rollout cut off mid-sentence,
    whose last number is no answer)."""
    if not text:
        return None
    m = list(_HASH_RE.finditer(text))
    if m:
        return _clean(m[-1].group(1)) or None
    m = list(_ANSWER_IS_RE.finditer(text))
    if m:
        tail = m[-1].group(1)
        boxed = _boxed_last(tail)
        if boxed is not None:
            return _clean(boxed)
        num = _NUM_RE.search(tail)
        if num:
            return _clean(num.group(0))
        if _clean(tail):
            return _clean(tail)
    boxed = _boxed_last(text)
    if boxed is not None:
        return _clean(boxed)
    nums = [] if explicit_only else _NUM_RE.findall(text)
    if nums:
        return _clean(nums[-1])
    return None


def to_number(ans: str) -> float | None:
    """A plain number (thousands commas, $, % and units-free) or None."""
    s = _clean(ans).replace("{,}", "").replace(",", "").rstrip("%").strip()
    m = re.fullmatch(r"\\?(?:text\{)?\s*(" + NUMBER.replace(",", "") + r")\s*\}?", s)
    if m:
        try:
            return float(m.group(1))
        except ValueError:
            return None
    frac = re.fullmatch(r"\\d?frac\{(-?\d+)\}\{(-?\d+)\}", s)
    if frac and int(frac.group(2)) != 0:
        return int(frac.group(1)) / int(frac.group(2))
    return None


def _math_verify(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    g = parse(f"${gold}$", parsing_timeout=None)
    p = parse(f"${pred}$", parsing_timeout=None)
    return bool(verify(g, p, timeout_seconds=None))


_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    global _POOL
    if _POOL is None:
        import multiprocessing

        _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _POOL


def _pool_reset() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
        for proc in list(getattr(_POOL, "_processes", {}).values()):
            proc.kill()
        _POOL = None


def answers_match(pred: str | None, gold: str) -> bool | None:
    """True/False, or None when the grader failed or timed out (recorded as grader_error)."""
    if pred is None:
        return False
    a, b = to_number(pred), to_number(gold)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if _clean(pred) == _clean(gold):
        return True
    if b is not None and a is None and not re.search(r"[\\{}^]", pred):
        return False  # a numeric gold against plain words: no need for sympy
    try:
        import math_verify  # noqa: F401
    except ImportError:
        return False
    try:
        return _pool().submit(_math_verify, gold, pred).result(timeout=GRADER_TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.warning("math-verify timed out on %r vs %r", pred, gold)
        _pool_reset()
        return None
    except Exception:  # noqa: BLE001 - any grader crash is a grader_error, never a job failure
        logger.exception("math-verify failed on %r vs %r", pred, gold)
        _pool_reset()
        return None


def parse_boxed_index(text: str, n_steps: int) -> int | None:
    """A critique's verdict: the last \\boxed integer if it is -1 or a step index, else None
    (no verdict; never counted as -1)."""
    inner = _boxed_last(text or "")
    if inner is None:
        return None
    m = re.fullmatch(r"\s*(-?\d+)\s*", inner.replace("\\text{", "").replace("}", ""))
    if not m:
        return None
    value = int(m.group(1))
    return value if -1 <= value < n_steps else None
