# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The Ansible side of the ``patroni_*`` modules: shared options, the client, one ``main()`` body.

The options are documented once in ``plugins/doc_fragments/patroni.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import PatroniClient


def patroni_argument_spec():
    """The options of ``plugins/doc_fragments/patroni.py``; each module adds its own keys."""
    return dict(
        api_url=dict(type="str", required=True),
        api_username=dict(type="str"),
        api_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_cert=dict(type="path"),
        request_timeout=dict(type="float", default=5.0),
        request_retries=dict(type="int", default=3),
    )


def client_from_module(module):
    p = module.params
    return PatroniClient(p["api_url"], username=p.get("api_username"), password=p.get("api_password"),
                         validate_certs=p.get("validate_certs", True), ca_cert=p.get("ca_cert"),
                         timeout=p.get("request_timeout") or 5.0, retries=p.get("request_retries", 3))


def run_operation(module, operation_class, run):
    """The shared ``main()`` body of the modules built on an ``Operation``.

    Builds the operation from the module's connection options, runs ``run(module, op)`` and
    reports: on ``PgfleetError`` the failure carries what was done so far (``op.report()``: the
    ``actions`` sent and ``changed``; for a rolling restart also ``members`` progress, ``restarted``
    and ``started_at``); otherwise the warnings go through
    ``module.warn`` and the result gets ``actions``; ``diff`` is returned only under ``--diff``.
    """
    op = None
    try:
        op = operation_class(client_from_module(module), check_mode=module.check_mode)
        result = run(module, op)
    except PgfleetError as err:
        failure = err.to_result()
        failure.update(op.report() if op is not None else {"actions": []})
        for warning in op.warnings if op is not None else []:
            module.warn(warning)
        module.fail_json(**failure)
    for warning in op.warnings:
        module.warn(warning)
    result["actions"] = op.actions
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
