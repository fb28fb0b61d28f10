# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Which PostgreSQL major a cluster runs: the one rule, read by the model (PGVERSION, bin_dir) and
by the upgrade gates (docs/design/upgrade.md, "Gates")."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def parse_major(value, field):
    """``value`` as a major version number; ValueError naming ``field`` otherwise."""
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or len(text) > 3:
        raise ValueError("%s: %r is not a PostgreSQL major version (write e.g. \"18\")" % (field, value))
    return int(text)


def desired_major(requested, mode, minimal=None, target=None):
    """The major the cluster should run: in ``full`` mode a request below ``minimal`` becomes ``target``."""
    want = parse_major(requested, "spec.postgresql.version")
    if mode == "full" and minimal not in (None, "") and target not in (None, ""):
        if want < parse_major(minimal, "config.minimal_major_version"):
            want = parse_major(target, "config.target_major_version")
    return want
