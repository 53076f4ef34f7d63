"""Field patterns run on RE2: linear time whatever the pattern, and what RE2 cannot run is
refused when the field is defined, not when a record is written."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError
from metadata_factories import make_widget_object

from mosaic.errors import ValidationFailed
from mosaic.metadata import FieldDef, FieldType, validate_field
from mosaic.metadata.values import check_value

KNOWN = {"widget", "account"}


def refused(pattern: str) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        validate_field({"name": "code", "type": "text", "pattern": pattern},
                       make_widget_object(), KNOWN)
    return exc.value.errors["pattern"]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?<!x)y", r"a{5000}", "([a-z"])
def test_patterns_re2_cannot_run_are_refused_naming_the_field(pattern):
    [message] = refused(pattern)
    assert "'code'" in message and "RE2" in message


def test_a_catastrophic_backtracking_pattern_is_matched_in_linear_time():
    # Under Python's re, (a+)+$ on 'a'*40 + 'b' backtracks 2**40 times; RE2 answers at once.
    fdef = validate_field({"name": "code", "type": "text", "pattern": "(a+)+", "max_length": 255},
                          make_widget_object(), KNOWN)
    with pytest.raises(ValidationError) as exc:
        check_value(fdef, "a" * 200 + "b")
    assert "Does not match the pattern" in str(exc.value.messages)
    assert check_value(fdef, "a" * 200) == "a" * 200


def test_patterns_match_the_whole_value_and_unicode():
    fdef = FieldDef("code", FieldType.TEXT, pattern=r"[A-Z]{2}-\d+", custom=True)
    assert check_value(fdef, "AB-12") == "AB-12"
    with pytest.raises(ValidationError):
        check_value(fdef, "xAB-12")
    word = FieldDef("word", FieldType.TEXT, pattern=r"\w+é", custom=True)
    assert check_value(word, "café") == "café"


def test_a_stored_pattern_re2_refuses_fails_the_write_not_the_service():
    # A definition stored before patterns were checked by RE2 (back-reference).
    fdef = FieldDef("code", FieldType.TEXT, pattern=r"(a)\1", custom=True)
    with pytest.raises(ValidationError) as exc:
        check_value(fdef, "aa")
    assert "no longer supported" in str(exc.value.messages)
