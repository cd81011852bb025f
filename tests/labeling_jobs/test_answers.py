import pytest

from labeling_jobs.answers import answers_match, extract_answer, parse_boxed_index, to_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She sells 9 eggs.\n#### 18", "18"),
        ("so the total is 1,234 dollars. The answer is: $1,234.", "1,234"),
        ("The answer is \\boxed{\\frac{11}{36}} indeed", "\\frac{11}{36}"),
        ("first \\boxed{2} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("we get \\boxed 5 here", "5"),
        ("\\fbox{7}", "7"),
        ("we have 3 apples and 4 pears so 7", "7"),
        ("no digits at all", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_explicit_only_skips_last_number_of_a_cut_off_rollout():
    assert extract_answer("so far we have 3 and then 4", explicit_only=True) is None
    assert extract_answer("The answer is: 12 and then more text 4", explicit_only=True) == "12"


@pytest.mark.parametrize(
    ("pred", "gold", "ok"),
    [
        ("18", "18", True),
        ("18.0", "18", True),
        ("$1,234", "1234", True),
        ("17", "18", False),
        ("\\frac{1}{2}", "0.5", True),
        ("forty", "40", False),
        (None, "3", False),
    ],
)
def test_answers_match_numbers(pred, gold, ok):
    assert answers_match(pred, gold) is ok


def test_answers_match_latex_with_math_verify():
    pytest.importorskip("math_verify")
    assert answers_match("\\dfrac{3}{4}", "\\frac{3}{4}") is True
    assert answers_match("x^2+1", "1+x^2") is True
    assert answers_match("x^2+2", "1+x^2") is False


def test_to_number():
    assert to_number("40{,}000") == 40000
    assert to_number("50%") == 50
    assert to_number("abc") is None


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("The earliest error is in \\boxed{2}.", 4, 2),
        ("All good: \\boxed{-1}", 4, -1),
        ("\\boxed{1} no wait \\boxed{3}", 4, 3),
        ("\\boxed{4}", 4, None),  # out of range = no verdict, never -1
        ("\\boxed{-2}", 4, None),
        ("\\boxed{two}", 4, None),
        ("no box", 4, None),
    ],
)
def test_parse_boxed_index(text, n, expected):
    assert parse_boxed_index(text, n) == expected
