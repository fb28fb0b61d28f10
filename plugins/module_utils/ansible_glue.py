# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""What every module's ``main()`` repeats: a :class:`PgfleetError` becomes the failure result
(``PgfleetError.to_result()``: its message and context), the warnings of a result go to ``module.warn``.

The ``k8s_*`` modules add their API requests to the failure (``module_utils/k8s/module.py``), the
``patroni_*`` modules built on an operation what it did (``module_utils/patroni/module.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError


def or_fail(module, func, *args, **kwargs):
    """``func(*args, **kwargs)``; a :class:`PgfleetError` fails the task with its message and context."""
    try:
        return func(*args, **kwargs)
    except PgfleetError as err:
        module.fail_json(**err.to_result())


def warn_all(module, warnings):
    """``module.warn`` each warning, in order."""
    for warning in warnings:
        module.warn(warning)


def run_module(module, run):
    """The ``main()`` body of a module whose ``run(module)`` returns its result: ``exit_json`` with it,
    or ``fail_json`` on a :class:`PgfleetError` (see :func:`or_fail`)."""
    module.exit_json(**or_fail(module, run, module))
