# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Primitives shared by the model's modules: name patterns, problem collection, Kubernetes quantities.

Nothing here knows about a manifest's structure; :mod:`validate` and :mod:`manifest` build on it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.door import type_name

# --------------------------------------------------------------------------------------------
# Patterns (docs/design/model.md §1); the Kubernetes name and label patterns are door.py's
CLUSTER_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CLUSTER_NAME_MAX = 58
USERNAME_RE = re.compile(r"^[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$")
DBNAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: A name Zalando skips (a '-' or a leading digit) but that holds nothing hostile: such an item is
#: skipped with a warning; anything else that fails DBNAME_RE (quotes, spaces, newlines) is refused.
SKIPPABLE_NAME_RE = re.compile(r"^[a-zA-Z0-9_][-a-zA-Z0-9_]{0,62}$")
DNS1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CPU_RE = opconfig.CPU_RE
MEMORY_RE = opconfig.MEMORY_RE
SCHEDULE_RE = re.compile(r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$")
CLONE_TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?[+-](\d{2}):(\d{2})$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
STANDBY_ENV_RE = re.compile(r"^STANDBY_WALE_(S3|GS|GSC|SWIFT)_PREFIX$", re.IGNORECASE)

PG_VERSIONS = ("13", "14", "15", "16", "17", "18")
PG_IDENTIFIER_MAX_BYTES = 63

# Optional spec fields defaulted in the normalised spec.
LIST_FIELDS = ("env", "envFrom", "sidecars", "initContainers", "additionalVolumes", "tolerations",
               "maintenanceWindows", "streams", "topologySpreadConstraints", "usersWithSecretRotation",
               "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation")
MAP_FIELDS = ("users", "databases", "podAnnotations", "serviceAnnotations", "masterServiceAnnotations",
              "replicaServiceAnnotations", "patroni")


# --------------------------------------------------------------------------------------------
# Quantities and problems


_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$")
_QUANTITY_SUFFIX = {
    None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "K": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value):
    """A Kubernetes quantity (``"250m"``, ``"1"``, ``"1.5Gi"``, ``"1e3"``) as a ``Decimal``.

    Raises ``ValueError`` for anything else. ``parse_quantity("1") == parse_quantity("1000m")``.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a quantity")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY_RE.match(str(value).strip())
    if not match:
        raise ValueError("%r is not a Kubernetes quantity" % (value,))
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets numbers through
        raise ValueError("%r is not a Kubernetes quantity" % (value,)) from exc
    if match.group(2):
        number = number * (Decimal(10) ** int(match.group(2)))
    return number * _QUANTITY_SUFFIX[match.group(3)]


def unset_quantity(value):
    return value is None or (isinstance(value, str) and value.strip() in ("", "0", "null"))


#: Longest problem text kept in a ManifestError.
PROBLEM_MAX = 400


class Problems(object):
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, field, problem, fix=None):
        if len(problem) > PROBLEM_MAX:  # a quoted value never turns a refusal into megabytes
            problem = "%s... (cut, %d characters)" % (problem[:PROBLEM_MAX], len(problem))
        self.errors.append(ManifestError(field, problem, fix))

    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    def skip(self, field, problem, fix):
        """An item Zalando skips: warned with the field and the fix, left out, the rest reconciled."""
        if len(problem) > PROBLEM_MAX:
            problem = "%s... (cut, %d characters)" % (problem[:PROBLEM_MAX], len(problem))
        self.warn("%s: %s; skipped, the rest of the cluster is reconciled (%s)" % (field, problem, fix))


def collected(check, value, field, problems=None):
    """``check(value, field, p)``: its problems go to ``problems`` when given, else a
    :class:`ManifestErrors` is raised for them (a caller outside the model gets an exception)."""
    p = Problems() if problems is None else problems
    result = check(value, field, p)
    if problems is None and p.errors:
        raise ManifestErrors(p.errors)
    return result


def skip_or_refuse(p, field, problem, fix, name):
    """A database or schema name outside DBNAME_RE: skipped (as Zalando does) when it only has a '-'
    or a leading digit, refused when it holds anything else (quotes, spaces, control characters)."""
    if SKIPPABLE_NAME_RE.match(name):
        p.skip(field, problem, fix)
    else:
        p.error(field, problem, fix)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def str_map(value, field, p, what="value"):
    """A map whose values must be strings (labels, annotations); scalars are coerced."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.error(field, "must be a map of %ss, got %s" % (what, type_name(value)), "write key: value pairs")
        return {}
    result = {}
    for key, val in value.items():
        if isinstance(val, (dict, list)):
            p.error("%s.%s" % (field, key), "must be a string", "quote the value")
            continue
        if isinstance(val, bool):
            val = "true" if val else "false"
        result[str(key)] = "" if val is None else str(val)
    return result


def ident_ok(name, field, p, what):
    """Refuse a Postgres identifier longer than 63 bytes (Postgres would silently truncate it)."""
    size = len(name.encode("utf-8"))
    if size > PG_IDENTIFIER_MAX_BYTES:
        p.error(field, "%s %r is %d bytes long; Postgres identifiers are at most %d bytes and longer ones are truncated"
                % (what, name, size, PG_IDENTIFIER_MAX_BYTES), "use a shorter name")
        return False
    return True
