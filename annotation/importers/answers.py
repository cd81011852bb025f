"""A reasoning trace's final answer, read from its text when the format has no field for it.

Models trained on MATH and GSM8K end their solutions with `\\boxed{...}`; others write
`# Answer` (PRM800K), `#### 42` (GSM8K) or `The answer is: 42` (Math-Shepherd). The import
service fills `final_answer` from the last step that holds one of these, when the importer
left it empty, so every trace format gets it the same way.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(r"\bThe (?:final )?answer is:?\s*(.+?)\s*\.?\s*$", re.IGNORECASE)
# How far back from the last step to look (a trace's answer is at its end).
_LOOK_BACK = 3
_MAX_ANSWER = 1000


def boxed_answer(text: str) -> str:
    """The content of the last `\\boxed{...}` in `text` (nested braces kept), '' if none.

    >>> boxed_answer(r"so \\(x = \\boxed{\\frac{1}{2}}\\).")
    '\\\\frac{1}{2}'
    """
    found = ""
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            depth += (ch == "{") - (ch == "}")
            i += 1
        if depth == 0:
            found = text[m.end() : i - 1]
    return found.strip()


def marked_answer(text: str) -> str:
    """The answer after `# Answer`, `####` or a final `The answer is` line; '' if none."""
    if "# Answer" in text:
        return text.rsplit("# Answer", 1)[1].strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip().replace(",", "").lstrip("$").strip()
    lines = text.strip().splitlines()
    m = _ANSWER_IS.search(lines[-1]) if lines else None
    return m.group(1).strip() if m else ""


def trace_final_answer(steps: list[str]) -> str:
    """The final answer of a trace: the last `\\boxed{}` in its last steps, else an explicit
    answer marker in its last step; '' when the text states none."""
    for step in reversed(steps[-_LOOK_BACK:]):
        if "boxed" in step or "fbox" in step:
            answer = boxed_answer(step)
            if answer:
                return answer[:_MAX_ANSWER]
    return marked_answer(steps[-1])[:_MAX_ANSWER] if steps else ""
