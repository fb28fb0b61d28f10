# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Maintenance windows: the one parser of ``"Ddd:HH:MM-HH:MM"`` / ``"HH:MM-HH:MM"`` (UTC).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import Problems

WINDOW_RE = re.compile(r"^\s*(?:(?P<day>[A-Za-z]+):)?(?P<sh>\d{1,2}):(?P<sm>\d{1,2})-(?P<eh>\d{1,2}):(?P<em>\d{1,2})\s*$")

#: Weekday names as Zalando spells them (case-sensitive), Monday = 0 as in Python.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_maintenance_window(text, field="spec.maintenanceWindows[0]", problems=None):
    """``"Sat:01:00-05:00"`` or ``"01:00-05:00"`` -> ``{"weekday": 5 | None, "start", "end"}``.

    Times are UTC. Like Zalando, a window cannot cross midnight; the error says how to split it.
    """
    own = problems is None
    p = Problems() if own else problems
    result = parse_window(text, field, p)
    if own and p.errors:
        raise ManifestErrors(p.errors)
    return result


def parse_window(text, field, p):
    fix = 'write "HH:MM-HH:MM" (every day) or "Ddd:HH:MM-HH:MM" with Ddd one of %s, times in UTC' % ", ".join(WEEKDAYS)
    if not isinstance(text, str):
        p.error(field, "a maintenance window must be a string, got %r" % (text,), fix)
        return None
    match = WINDOW_RE.match(text)
    if not match:
        p.error(field, "%r is not a maintenance window" % text, fix)
        return None
    day = match.group("day")
    weekday = None
    if day is not None:
        if day not in WEEKDAYS:
            p.error(field, "%r: unknown weekday %r (case-sensitive)" % (text, day), fix)
            return None
        weekday = WEEKDAYS.index(day)
    sh, sm, eh, em = (int(match.group(g)) for g in ("sh", "sm", "eh", "em"))
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 23 or minute > 59:
            p.error(field, "%r: %02d:%02d is not a time of day" % (text, hour, minute), "hours are 00-23, minutes 00-59")
            return None
    if (eh, em) < (sh, sm):
        if weekday is None:
            split = "%02d:%02d-23:59 and 00:00-%02d:%02d" % (sh, sm, eh, em)
        else:
            split = "%s:%02d:%02d-23:59 and %s:00:00-%02d:%02d" % (day, sh, sm, WEEKDAYS[(weekday + 1) % 7], eh, em)
        p.error(field, "%r ends before it starts: a window cannot cross midnight (kept from Zalando for compatibility)" % text,
                "split it into two windows: %s" % split)
        return None
    return {"weekday": weekday, "start": "%02d:%02d" % (sh, sm), "end": "%02d:%02d" % (eh, em)}
