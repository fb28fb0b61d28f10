# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Maintenance windows for Patroni operations (interim: replaced by module_utils/model/windows.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_RE = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun)[a-z]*:)?(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$", re.I)


def parse_windows(windows):
    """Maintenance windows -> ``[(weekday or None, start_minute, end_minute)]``.

    Accepts the manifest strings (``"01:00-06:00"``, ``"Sat:22:00-02:00"``) and the model's dicts
    (``{"weekday": 0-6 or None (Mon=0), "start": "HH:MM", "end": "HH:MM"}``). A window whose end
    is not after its start crosses midnight (its weekday is the day it starts).
    """
    out = []
    for i, w in enumerate(windows or []):
        field = "maintenance_windows[%d]" % i
        if isinstance(w, dict):
            weekday = w.get("weekday")
            if isinstance(weekday, str):
                weekday = WEEKDAYS.index(weekday[:3].lower()) if weekday[:3].lower() in WEEKDAYS else -1
            if weekday is not None and weekday not in range(7):
                raise ManifestError(field, "weekday %r is not 0-6 (Monday=0) or a day name" % (w.get("weekday"),),
                                    "use e.g. 5 or \"Sat\"")
            text = "%s-%s" % (w.get("start"), w.get("end"))
        else:
            weekday, text = None, str(w).strip()
        m = _WINDOW_RE.match(text if isinstance(w, dict) else text)
        if not m:
            raise ManifestError(field, "%r is not a window" % (w,), "write \"HH:MM-HH:MM\" or \"Sat:HH:MM-HH:MM\"")
        day, h1, m1, h2, m2 = m.groups()
        if day:
            weekday = WEEKDAYS.index(day[:3].lower())
        h1, m1, h2, m2 = int(h1), int(m1), int(h2), int(m2)
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ManifestError(field, "%r has an impossible time" % (w,), "hours 00-23, minutes 00-59")
        out.append((weekday, h1 * 60 + m1, h2 * 60 + m2))
    return out


def _window_spans(window, day):
    """``[(start, end)]`` datetimes of ``window`` occurrences that start on ``day`` (a date)."""
    weekday, start, end = window
    if weekday is not None and day.weekday() != weekday:
        return []
    base = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    begin = base + datetime.timedelta(minutes=start)
    finish = base + datetime.timedelta(minutes=end if end > start else end + 1440)
    return [(begin, finish)]


def in_window(windows, now):
    """True when ``now`` (aware datetime) is inside a window; no windows means always."""
    parsed = parse_windows(windows)
    if not parsed:
        return True
    now = now.astimezone(datetime.timezone.utc)
    for w in parsed:
        for offset in (-1, 0):
            for begin, finish in _window_spans(w, (now + datetime.timedelta(days=offset)).date()):
                if begin <= now < finish:
                    return True
    return False


def next_window_start(windows, now):
    """The start of the next window after ``now`` (``now`` itself if inside one); ``None`` if no windows."""
    parsed = parse_windows(windows)
    if not parsed:
        return None
    now = now.astimezone(datetime.timezone.utc)
    if in_window(windows, now):
        return now
    best = None
    for w in parsed:
        for offset in range(0, 8):
            for begin, _end in _window_spans(w, (now + datetime.timedelta(days=offset)).date()):
                if begin > now and (best is None or begin < best):
                    best = begin
    return best


