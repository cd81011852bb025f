"""Prompts of the labeling methods, written in our own words (METHODS.md paraphrases the
ProcessBench critique structure; nothing here is copied from a template)."""

from __future__ import annotations

from collections.abc import Sequence

SOLVER_SYSTEM = (
    "You solve math word problems step by step. Separate steps with a blank line and finish "
    "with a line of the form 'The answer is: X'."
)


def solver_messages(problem: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SOLVER_SYSTEM}, {"role": "user", "content": problem}]


def steps_prefix(steps: Sequence[str], upto: int, separator: str = "\n\n") -> str:
    """Steps 0..upto joined as the assistant wrote them, ready for the next step."""
    return separator.join(steps[: upto + 1]) + separator


def critique_messages(problem: str, steps: Sequence[str]) -> list[dict[str, str]]:
    paragraphs = "\n\n".join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>" for i, s in enumerate(steps))
    text = (
        "Below are a math problem and a proposed solution. The solution is split into "
        "paragraphs, each wrapped in tags that carry its index, counting from 0.\n\n"
        f"[Problem]\n\n{problem}\n\n[Solution]\n\n{paragraphs}\n\n"
        "Check the paragraphs one after another. Report the index of the first paragraph "
        "that contains a mistake, or -1 if you find no mistake at all. Write that index "
        "inside \\boxed{} at the end of your reply."
    )
    return [{"role": "user", "content": text}]


def verify_messages(problem: str, steps: Sequence[str], index: int) -> list[dict[str, str]]:
    shown = "\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(steps[: index + 1]))
    text = (
        f"Problem: {problem}\n\nSolution so far:\n{shown}\n\n"
        f"Is Step {index + 1} correct? Answer Yes or No."
    )
    return [{"role": "user", "content": text}]


def verify_pieces(problem: str, steps: Sequence[str]) -> tuple[list[str], list[str]]:
    """`verify_messages` as shared pieces: the user text for step k is
    pieces[0] + pieces[1..k+1] + questions[k] (the problem and the earlier steps come first,
    so the prompts of one trace share everything up to the question)."""
    pieces = [f"Problem: {problem}\n\nSolution so far:"]
    pieces += [f"\nStep {i + 1}: {s}" for i, s in enumerate(steps)]
    questions = [f"\n\nIs Step {i + 1} correct? Answer Yes or No." for i in range(len(steps))]
    return pieces, questions


def pair_messages(
    context: str, response_a: str, response_b: str, principles: Sequence[str]
) -> list[dict[str, str]]:
    rules = ", ".join(principles) if principles else "helpfulness, honesty and safety"
    text = (
        f"Judge two replies to the same conversation by these principles: {rules}.\n\n"
        f"[Conversation]\n{context}\n\n[Response A]\n{response_a}\n\n[Response B]\n{response_b}\n\n"
        "Which response is better? Answer with the single letter A or B."
    )
    return [{"role": "user", "content": text}]


def turn_messages(
    history: Sequence[tuple[str, str]], field: str, choices: Sequence[str], labels: Sequence[str]
) -> list[dict[str, str]]:
    convo = "\n".join(f"{speaker}: {text}" for speaker, text in history)
    speaker = history[-1][0] if history else "speaker"
    if list(labels) == list(choices):
        options = "\n".join(f"- {c}" for c in choices)
    else:
        options = "\n".join(f"{lab}: {c}" for lab, c in zip(labels, choices, strict=True))
    text = (
        f"[Conversation]\n{convo}\n\nCode the last {speaker} turn for '{field}'. "
        f"The codes are:\n{options}\n\nAnswer with the code only."
    )
    return [{"role": "user", "content": text}]
