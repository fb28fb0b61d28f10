# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Maintenance windows: the one parser of ``"Ddd:HH:MM-HH:MM"`` / ``"HH:MM-HH:MM"`` (UTC), and the
two questions every caller asks (am I inside a window now? when does the next one start?).

Rules (docs/design/model.md, "Maintenance windows"):

* a window without a weekday repeats every day; a weekday is a three-letter or full English day
  name in any case (``Sat``, ``sat``, ``Saturday``);
* a window whose end is not after its start crosses midnight: ``Sat:22:00-02:00`` runs from
  Saturday 22:00 to Sunday 02:00, ``10:00-10:00`` is a whole day. The weekday is the day it starts;
* no windows at all means "always inside a window".

The model stores windows as ``{"weekday": 0-6 (Monday = 0) or None, "start": "HH:MM", "end": "HH:MM"}``;
:func:`in_window` and :func:`next_window_start` take those dicts or the strings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import Problems, collected

WINDOW_RE = re.compile(r"^[ \t]*(?:(?P<day>[A-Za-z]+):)?(?P<sh>\d{1,2}):(?P<sm>\d{1,2})-(?P<eh>\d{1,2}):(?P<em>\d{1,2})[ \t]*\Z")

#: Weekday abbreviations, Monday = 0 as in Python; matching is case-insensitive.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = datetime.timedelta(days=1)


def weekday_index(day):
    """``"Sat"``, ``"sat"``, ``"Saturday"`` -> 5; anything else -> ``None``."""
    if not isinstance(day, str):
        return None
    low = day.lower()
    for i, full in enumerate(_FULL_NAMES):
        if low in (full[:3], full):
            return i
    return None


def parse_maintenance_window(text, field="spec.maintenanceWindows[0]", problems=None):
    """``"Sat:01:00-05:00"`` or ``"01:00-05:00"`` -> ``{"weekday": 5 | None, "start", "end"}``.

    Raises :class:`ManifestErrors` unless ``problems`` (a :class:`common.Problems`) collects them.
    """
    return collected(parse_window, text, field, problems)


def parse_window(text, field, p):
    fix = 'write "HH:MM-HH:MM" (every day) or "Ddd:HH:MM-HH:MM" with Ddd one of %s, times in UTC' % ", ".join(WEEKDAYS)
    if not isinstance(text, str):
        p.error(field, "a maintenance window must be a string, got %r" % (text,), fix)
        return None
    match = WINDOW_RE.match(text) if len(text) <= 64 else None
    if not match:
        p.error(field, "%r is not a maintenance window" % (text[:64],), fix)
        return None
    day = match.group("day")
    weekday = None
    if day is not None:
        weekday = weekday_index(day)
        if weekday is None:
            p.error(field, "%r: unknown weekday %r" % (text, day), fix)
            return None
    sh, sm, eh, em = (int(match.group(g)) for g in ("sh", "sm", "eh", "em"))
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 23 or minute > 59:
            p.error(field, "%r: %02d:%02d is not a time of day" % (text, hour, minute), "hours are 00-23, minutes 00-59")
            return None
    return {"weekday": weekday, "start": "%02d:%02d" % (sh, sm), "end": "%02d:%02d" % (eh, em)}


def _minutes(hhmm):
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)


def _normalise(windows):
    """Strings or model dicts -> ``[(weekday or None, start_minute, end_minute)]``; raises ManifestErrors."""
    p = Problems()
    out = []
    for i, window in enumerate(windows or []):
        field = "maintenance_windows[%d]" % i
        if isinstance(window, dict):
            weekday = window.get("weekday")
            if isinstance(weekday, str):
                weekday = weekday_index(weekday)
                if weekday is None:
                    p.error(field, "weekday %r is not a day name" % (window.get("weekday"),), 'use e.g. 5 or "Sat"')
                    continue
            elif weekday is not None and (isinstance(weekday, bool) or weekday not in range(7)):
                p.error(field, "weekday %r is not 0-6 (Monday = 0)" % (weekday,), 'use e.g. 5 or "Sat"')
                continue
            parsed = parse_window("%s-%s" % (window.get("start"), window.get("end")), field, p)
            if parsed is None:
                continue
        else:
            parsed = parse_window(window, field, p)
            if parsed is None:
                continue
            weekday = parsed["weekday"]
        out.append((weekday, _minutes(parsed["start"]), _minutes(parsed["end"])))
    if p.errors:
        raise ManifestErrors(p.errors)
    return out


def _spans(window, day):
    """``(begin, end)`` of the occurrence of ``window`` that starts on the date ``day``, or None."""
    weekday, start, end = window
    if weekday is not None and day.weekday() != weekday:
        return None
    base = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    begin = base + datetime.timedelta(minutes=start)
    finish = base + datetime.timedelta(minutes=end if end > start else end + 1440)
    return begin, finish


def _utc(now):
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(datetime.timezone.utc)


def in_window(windows, now):
    """True when the aware datetime ``now`` is inside one of ``windows``; no windows means always."""
    parsed = _normalise(windows)
    if not parsed:
        return True
    now = _utc(now)
    for window in parsed:
        for day in ((now - _DAY).date(), now.date()):
            span = _spans(window, day)
            if span and span[0] <= now < span[1]:
                return True
    return False


def next_window_start(windows, now):
    """The start of the next window after ``now`` (``now`` itself when inside one); ``None`` without windows."""
    parsed = _normalise(windows)
    if not parsed:
        return None
    now = _utc(now)
    if in_window(windows, now):
        return now
    best = None
    for window in parsed:
        for offset in range(8):
            span = _spans(window, (now + offset * _DAY).date())
            if span and span[0] > now and (best is None or span[0] < best):
                best = span[0]
    return best
