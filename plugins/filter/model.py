# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Filter ``pgfleet.postgres.postgresql_model``: the validated manifest model of a ``postgresql`` object.

Documentation lives in ``postgresql_model.yml`` next to this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.manifest import build_model


def postgresql_model(cr, operator_config=None, existing_secrets=None):
    """Wrap :func:`build_model`; every manifest problem becomes one AnsibleFilterError message."""
    try:
        return build_model(cr, operator_config, existing_secrets)
    except PgfleetError as exc:
        raise AnsibleFilterError(exc.msg) from exc


class FilterModule(object):
    def filters(self):
        return {"postgresql_model": postgresql_model}
