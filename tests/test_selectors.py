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
    assert message.startswith("selector 'region ==' does not parse at line 1, column 10: ")
    assert "mismatched input '<EOF>'" in message


def test_bad_syntax_reports_first_error_only() -> None:
    with pytest.raises(SelectorError, match=r"at line 1, column 11: token recognition error"):
        compile_selector("region == 'tokyo")


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
