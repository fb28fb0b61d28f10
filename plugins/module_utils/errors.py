# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Exceptions shared by every pgfleet module and plugin.

Each error carries one actionable sentence (``msg``) plus structured context, so a module can
``fail_json(msg=err.msg, **err.context)`` once in ``main()`` and a filter can raise it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PgfleetError(Exception):
    """Base class: ``msg`` is for people, ``context`` for machines (cluster, member, status...)."""

    def __init__(self, msg, **context):
        super(PgfleetError, self).__init__(msg)
        self.msg = msg
        self.context = context

    def to_result(self):
        """Keyword arguments for ``module.fail_json``."""
        result = dict(self.context)
        result["msg"] = self.msg
        return result


class ManifestError(PgfleetError):
    """A manifest or operator configuration value is invalid.

    ``field`` is the dotted path of the offending value (``spec.users.foo``), ``fix`` says what
    to write instead. The message always names both.
    """

    def __init__(self, field, problem, fix=None, **context):
        msg = "%s: %s" % (field, problem)
        if fix:
            msg = "%s; %s" % (msg, fix)
        super(ManifestError, self).__init__(msg, field=field, **context)
        self.field = field
        self.problem = problem
        self.fix = fix


class ManifestErrors(PgfleetError):
    """Several ManifestError at once: a manifest is reported whole, not one field per run."""

    def __init__(self, errors):
        self.errors = list(errors)
        lines = [e.msg for e in self.errors]
        msg = "invalid postgresql manifest (%d problem%s): %s" % (
            len(lines), "" if len(lines) == 1 else "s", " | ".join(lines))
        super(ManifestErrors, self).__init__(msg, fields=[e.field for e in self.errors])


class PatroniError(PgfleetError):
    """A Patroni REST call failed or Patroni refused an action (context: member, url, status, answer)."""


class PostgresError(PgfleetError):
    """A SQL step failed (context: database, query index, sqlstate)."""


class KubernetesError(PgfleetError):
    """A Kubernetes read or write failed. A failed read is "unknown", never "empty"."""
