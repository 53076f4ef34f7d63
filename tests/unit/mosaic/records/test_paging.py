"""The one cursor format of every keyset-paged list (``mosaic.records.paging``): what goes in
comes out typed, anything else is a 400 naming ``cursor``; and the sort parser."""
from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone

import pytest

from mosaic.errors import BadRequest, ValidationFailed
from mosaic.records import paging

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def test_packed_values_come_back_typed():
    data = {"v": AT, "d": date(2026, 3, 1), "n": 3, "s": "x", "none": None}
    assert paging.unpack_cursor(paging.pack_cursor(data), lambda d: d) == data
    assert paging.unpack_cursor(paging.pack_cursor([AT, "id"]), lambda d: d) == [AT, "id"]
    assert "=" not in paging.pack_cursor({"pad": "x" * 7})  # URL-safe, unpadded


def test_record_list_cursors_carry_their_sort():
    srt = paging.Sort("size", descending=True)
    cursor = paging.encode_cursor(srt, 3, "r1")
    assert paging.decode_cursor(cursor, srt) == (3, "r1")
    # the wire form lists use (and clients may hold) is unchanged: base64 of the JSON object
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert raw == {"f": "size", "d": True, "v": 3, "id": "r1"}
    with pytest.raises(BadRequest):
        paging.decode_cursor(cursor, paging.Sort("size", descending=False))
    with pytest.raises(BadRequest):
        paging.decode_cursor(cursor, paging.Sort("name", descending=True))


def test_time_cursors_round_trip():
    assert paging.read_time_cursor(paging.time_cursor(AT, "e1")) == (AT, "e1")


@pytest.mark.parametrize("bad", ["", "!!!", "e30", "W10", paging.pack_cursor([1, 2]),
                                 paging.pack_cursor(["not a time", "x"]), paging.pack_cursor({"at": "x"}),
                                 base64.urlsafe_b64encode(b"\xff\xfe").decode(), None, 42])
def test_anything_else_is_a_400_naming_the_cursor(bad):
    with pytest.raises(BadRequest) as err:
        paging.read_time_cursor(bad)
    assert err.value.status == 400 and list(err.value.errors) == ["cursor"]


def test_sort_parsing():
    assert paging.parse_sort(None, {"created_at"}) == paging.Sort("created_at", True)
    assert paging.parse_sort(" +size ", {"size"}) == paging.Sort("size", False)
    for bad in ("size,name", "colour"):
        with pytest.raises(BadRequest):
            paging.parse_sort(bad, {"size", "name"})


@pytest.mark.parametrize("limit, expected", [(1, 1), (200, 200), ("50", 50), (" 7 ", 7)])
def test_a_page_limit_is_a_whole_number_within_the_most(limit, expected):
    assert paging.page_limit(limit, 200) == expected


@pytest.mark.parametrize("limit", [0, 201, -1, True, 2.5, "2.5", "ten", None, [5]])
def test_anything_else_is_a_422_naming_limit(limit):
    with pytest.raises(ValidationFailed) as info:
        paging.page_limit(limit, 200)
    assert list(info.value.errors) == ["limit"]
