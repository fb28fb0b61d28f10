# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""model/windows.py: the one maintenance-window parser and its two questions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import windows as w


def at(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("day, index", [("Mon", 0), ("mon", 0), ("MONDAY", 0), ("Sun", 6), ("sunday", 6),
                                        ("Mo", None), ("Mond", None), ("", None), (None, None), (5, None)])
def test_weekday_names_any_case(day, index):
    assert w.weekday_index(day) == index


@pytest.mark.parametrize("windows, now, inside", [
    ([], "2030-01-01T12:00:00Z", True),
    (["01:00-06:00"], "2030-01-01T03:00:00Z", True),
    (["01:00-06:00"], "2030-01-01T06:00:00Z", False),
    (["Sat:01:00-06:00"], "2030-01-05T02:00:00Z", True),   # 2030-01-05 is a Saturday
    (["sat:01:00-06:00"], "2030-01-05T02:00:00Z", True),
    (["Sat:01:00-06:00"], "2030-01-06T02:00:00Z", False),
    (["22:00-02:00"], "2030-01-01T23:30:00Z", True),       # crosses midnight
    (["22:00-02:00"], "2030-01-02T01:59:00Z", True),
    (["22:00-02:00"], "2030-01-02T02:00:00Z", False),
    (["Sat:22:00-02:00"], "2030-01-06T01:00:00Z", True),   # Sunday early morning belongs to Saturday's window
    (["Sat:22:00-02:00"], "2030-01-05T01:00:00Z", False),
    (["Sun:23:00-01:00"], "2030-01-07T00:30:00Z", True),   # Monday 00:30 belongs to Sunday's window (week wrap)
    (["10:00-10:00"], "2030-01-01T09:59:00Z", True),       # equal ends: a whole day
    ([{"weekday": 5, "start": "01:00", "end": "06:00"}], "2030-01-05T05:59:00Z", True),
    ([{"weekday": "Sat", "start": "01:00", "end": "06:00"}], "2030-01-05T05:59:00Z", True),
    ([{"weekday": None, "start": "01:00", "end": "06:00"}], "2030-01-07T01:00:00Z", True),
    (["01:00-06:00"], "2030-01-01T04:00:00+02:00", True),  # 02:00 UTC
])
def test_in_window(windows, now, inside):
    assert w.in_window(windows, at(now)) is inside


def test_model_windows_and_strings_agree():
    parsed = [w.parse_maintenance_window(t) for t in ("Sat:22:00-02:00", "03:00-04:00")]
    for hour in range(0, 24 * 8):
        now = at("2030-01-01T00:00:00Z") + datetime.timedelta(minutes=37 * hour)
        assert w.in_window(parsed, now) is w.in_window(["Sat:22:00-02:00", "03:00-04:00"], now)


def test_next_window_start():
    assert w.next_window_start(["Sat:01:00-06:00"], at("2030-01-01T12:00:00Z")) == at("2030-01-05T01:00:00Z")
    assert w.next_window_start(["22:00-02:00", "Mon:03:00-04:00"], at("2030-01-06T12:00:00Z")) == at("2030-01-06T22:00:00Z")
    now = at("2030-01-05T02:00:00Z")
    assert w.next_window_start(["Sat:01:00-06:00"], now) == now
    assert w.next_window_start([], now) is None


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        w.in_window(["01:00-02:00"], datetime.datetime(2030, 1, 1))


@pytest.mark.parametrize("bad", ["1-6", "Foo:01:00-02:00", "25:00-26:00", "01:00-02:00\n", "x" * 100000,
                                 {"weekday": 9, "start": "01:00", "end": "02:00"},
                                 {"weekday": True, "start": "01:00", "end": "02:00"},
                                 {"weekday": "Foo", "start": "01:00", "end": "02:00"}])
def test_bad_windows_name_the_field(bad):
    with pytest.raises(ManifestErrors) as err:
        w.in_window([bad], at("2030-01-01T00:00:00Z"))
    assert err.value.errors[0].field == "maintenance_windows[0]"
    assert len(err.value.msg) < 400
