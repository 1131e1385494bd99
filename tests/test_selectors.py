import random
import re
import time

import pytest

from edgehost.selectors import Selector, SelectorError, compile_selector

TOKYO = {"region": "tokyo", "tier": "edge", "topology/zone": "a"}


def test_true_matches_every_node() -> None:
    selector = compile_selector("true")
    assert isinstance(selector, Selector)
    assert selector.expr == "true"
    assert selector.matches({})
    assert selector.matches(TOKYO)


def test_matches_and_does_not_match() -> None:
    selector = compile_selector("region == 'tokyo' && tier != 'core'")
    assert selector.matches(TOKYO)
    assert not selector.matches({**TOKYO, "region": "paris"})


def test_missing_label_is_no_match() -> None:
    assert not compile_selector("region == 'tokyo'").matches({"tier": "edge"})
    # An error in one branch does not stop the other from deciding (CEL's commutative ||).
    assert compile_selector("region == 'tokyo' || tier == 'edge'").matches({"tier": "edge"})


def test_labels_map_for_keys_that_are_not_identifiers() -> None:
    assert compile_selector("labels['topology/zone'] == 'a'").matches(TOKYO)
    assert compile_selector("'tier' in labels").matches(TOKYO)
    assert not compile_selector("'gpu' in labels").matches(TOKYO)
    assert not compile_selector("labels['gpu'] == '1'").matches(TOKYO)


@pytest.mark.parametrize("expr", ["region", "1 + 1", "'yes'", "1 / 0 == 1", "region + 1 == 2"])
def test_non_bool_or_failing_result_is_no_match(expr: str) -> None:
    assert not compile_selector(expr).matches(TOKYO)


def test_bad_syntax_names_problem_and_position() -> None:
    with pytest.raises(SelectorError) as caught:
        compile_selector("region ==")
    message = str(caught.value)
    assert message == (
        "selector 'region ==' does not parse at line 1, column 10: the expression ends where a value "
        "(a label, a 'string', a number, true or false) was expected"
    )


@pytest.mark.parametrize(
    ("expr", "sentence"),
    [
        ("region == 'tokyo", 'at line 1, column 11: the string starting "\'tokyo" is not closed'),
        ("region = 'tokyo'", "at line 1, column 8: '=' is not allowed here (compare with ==)"),
        ("(region == 'a'", "at line 1, column 15: a ')' is missing before the end of the expression"),
        ("region == 'a')", "at line 1, column 14: found ')' where the end of the expression was expected"),
        ("a.b.", "at line 1, column 5: '.' cannot come here"),
        (
            "region == 'a' and x",
            "column 15: found 'and' where an operator (==, !=, <, in, &&, || ...) or "
            "the end of the expression was expected (CEL writes 'and' as &&)",
        ),
        ("region == 'a'\n&& ", "at line 2, column 4: the expression ends where a value"),
    ],
)
def test_each_kind_of_syntax_error_is_a_sentence_with_its_position(expr: str, sentence: str) -> None:
    with pytest.raises(SelectorError) as caught:
        compile_selector(expr)
    assert sentence in str(caught.value)


GRAMMAR_WORDS = ("<EOF>", "IDENTIFIER", "NUM_", "mismatched", "extraneous", "viable", "recognition", "{")
FRAGMENTS = [
    "region",
    "==",
    "!=",
    "'tokyo'",
    '"a',
    "(",
    ")",
    "[",
    "]",
    "&&",
    "||",
    "!",
    ".",
    "=",
    "in",
    "labels",
    "1",
    "and",
    "@",
    ",",
    "?",
    ":",
    "true",
    "'",
]


def test_random_malformed_selectors_read_as_sentences() -> None:
    """Property: whatever fails to parse is reported at a position in words, never grammar tokens."""
    rng = random.Random(16)
    refused = 0
    for _ in range(400):
        expr = " ".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6)))
        try:
            compile_selector(expr)
        except SelectorError as exc:
            refused += 1
            message = str(exc)
            assert re.search(r"does not parse at line \d+, column \d+: \S", message), message
            assert not any(word in message.split(": ", 1)[1] for word in GRAMMAR_WORDS), message
    assert refused > 300


@pytest.mark.parametrize("expr", ["", "   "])
def test_empty_expression_refused(expr: str) -> None:
    with pytest.raises(SelectorError, match="selector is empty"):
        compile_selector(expr)


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


def test_matches_is_cheap() -> None:
    selector = compile_selector("region == 'tokyo'")
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        selector.matches(TOKYO)
    per_call = (time.perf_counter() - start) / rounds
    assert per_call < 500e-6  # ~5-10 µs measured; generous for loaded CI machines
