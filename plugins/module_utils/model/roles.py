# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The role vocabulary, in one place: role flags and their normal form, and the role and database
names PostgreSQL reserves. The model refuses reserved names at the door (``spec.users.<name>``,
``spec.databases.<name>``), so render, local and reconcile refuse the same manifests; the SQL
sync (``postgres/rolesync.py``, ``postgres/dbsync.py``) imports the same definitions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import collected

FLAG_RE = re.compile(r"^[A-Za-z0-9]+$")
BASE_FLAGS = ("SUPERUSER", "INHERIT", "LOGIN", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
VALID_FLAGS = frozenset(BASE_FLAGS + tuple("NO" + f for f in BASE_FLAGS))

#: Names the server refuses as role names (compared in lower case).
RESERVED_ROLE_NAMES = frozenset(["public", "none", "current_user", "session_user", "current_role"])
#: PostgreSQL reserves role names starting with this prefix for its predefined roles.
RESERVED_ROLE_PREFIX = "pg_"
#: Databases every cluster has; a manifest cannot create, own or drop them.
RESERVED_DATABASES = frozenset(["postgres", "template0", "template1"])


def reserved_role_problem(name):
    """Why ``name`` cannot be a role we create, or ``None``."""
    if name.lower() in RESERVED_ROLE_NAMES:
        return "%r is reserved by PostgreSQL and cannot be a role name" % name
    if name.startswith(RESERVED_ROLE_PREFIX):
        return "role names starting with %s are reserved by PostgreSQL for its predefined roles (%r)" % (RESERVED_ROLE_PREFIX, name)
    return None


def reserved_database_problem(name):
    """Why ``name`` cannot be a database a manifest declares, or ``None``."""
    if name in RESERVED_DATABASES:
        return "%r exists in every cluster and is not managed from the manifest" % name
    return None


def normalize_flags(flags, field="flags", problems=None):
    """docs/design/model.md §4: upper-case, validate, reject X with NOX, drop duplicates, add LOGIN unless
    LOGIN/NOLOGIN, drop NOLOGIN, sort. Raises ManifestErrors unless ``problems`` collects them."""
    return collected(_normalize_flags, flags, field, problems)


def _normalize_flags(flags, field, p):
    if flags is None:
        flags = []
    if not isinstance(flags, list):
        p.error(field, "flags must be a list, got %s" % type(flags).__name__, "write e.g. [createdb, login]")
        return None
    seen = set()
    ok = True
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or not FLAG_RE.match(flag):
            p.error("%s[%d]" % (field, i), "flag %r is not alphanumeric" % (flag,), "use one of %s" % ", ".join(sorted(VALID_FLAGS)))
            ok = False
            continue
        upper = flag.upper()
        if upper not in VALID_FLAGS:
            p.error("%s[%d]" % (field, i), "unknown flag %r" % flag, "use one of %s" % ", ".join(sorted(VALID_FLAGS)))
            ok = False
            continue
        seen.add(upper)
    for base in BASE_FLAGS:
        if base in seen and "NO" + base in seen:
            p.error(field, "flags %s and NO%s contradict each other" % (base, base), "keep only one of them")
            ok = False
    if not ok:
        return None
    if "LOGIN" not in seen and "NOLOGIN" not in seen:
        seen.add("LOGIN")
    seen.discard("NOLOGIN")
    return sorted(seen)
