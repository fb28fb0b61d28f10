# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Row format of the GUC tables ``gucs_<major>.py``, which ``scripts/gen_gucs.py`` writes.

``gucs.py`` reads full rows: ``name -> (vartype, unit, min_val, max_val, enum values, context)``,
the columns of ``pg_settings`` (``""`` where it has NULL, ``()`` without enum values).

The table files hold text tables, one line a setting, with only the columns its type has
(fields split on blanks; the enum values are the rest of the line, split on commas)::

    name  bool|string     context
    name  integer|real    context  unit|-  min_val  max_val
    name  enum            context  value,value,...

One major is the base (``gucs_15.py``: ``ROWS``, every setting). Every other major's file holds
only its difference to the base: ``ADDED`` (settings the base lacks), ``CHANGED`` (settings the
base has with another row), ``REMOVED`` (names of base settings this major lacks, one a line).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_PLAIN = ("bool", "string")
_NUMBER = ("integer", "real")


def _row(text):
    fields = text.split(None, 3)
    if len(fields) < 3:
        return None
    vartype, context, rest = fields[1], fields[2], fields[3] if len(fields) == 4 else ""
    if vartype in _PLAIN and not rest:
        return (vartype, "", "", "", (), context)
    numbers = rest.split()
    if vartype in _NUMBER and len(numbers) == 3:
        return (vartype, "" if numbers[0] == "-" else numbers[0], numbers[1], numbers[2], (), context)
    if vartype == "enum" and rest:
        return (vartype, "", "", "", tuple(rest.split(",")), context)
    return None


def parse(text):
    """``{name: full row}`` of a text table, in its order; blank lines are skipped."""
    rows = {}
    for entry in text.splitlines():
        if not entry.strip():
            continue
        row = _row(entry)
        name = entry.split()[0]
        if row is None or name in rows:
            raise ValueError("not a GUC row, or a second one of its name: %r" % entry)
        rows[name] = row
    return rows


def line(name, row):
    """The text line of a full row (``scripts/gen_gucs.py``); ``ValueError`` when it would not read back the same."""
    vartype, unit, min_val, max_val, values, context = row
    if vartype in _NUMBER:
        rest = "%-4s %s %s" % (unit or "-", min_val, max_val)
    else:
        rest = ",".join(values)
    text = ("%-40s %-7s %-17s %s" % (name, vartype, context, rest)).rstrip()
    if '"' in text or "\\" in text or parse(text) != {name: tuple(row)}:
        raise ValueError("no text line for the GUC row %r: %r" % (name, row))
    return text


def derive(base, added, changed, removed):
    """The full table of a major: the full ``base`` table with the full rows ``added`` and ``changed``, less the names ``removed``."""
    wrong = sorted(set(added) & set(base)) + sorted(set(changed) - set(base)) + sorted(set(removed) - set(base))
    if wrong:
        raise ValueError("GUC difference does not fit its base table: %s" % ", ".join(wrong))
    result = dict((name, row) for name, row in base.items() if name not in removed)
    result.update(added)
    result.update(changed)
    return dict((name, result[name]) for name in sorted(result))  # in name order, as the base


def delta(base, full):
    """``(added, changed, removed)`` that ``derive`` turns the full table ``base`` into ``full`` with, in name order."""
    added = dict((name, full[name]) for name in sorted(full) if name not in base)
    changed = dict((name, full[name]) for name in sorted(full) if name in base and tuple(base[name]) != tuple(full[name]))
    removed = tuple(name for name in sorted(base) if name not in full)
    return added, changed, removed
