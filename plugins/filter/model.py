# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Filters ``pgfleet.postgres.postgresql_model`` (the validated manifest model of a ``postgresql`` object),
``pgfleet.postgres.postgresql_credentials`` (attach the credentials to a model built without them) and
``pgfleet.postgres.credential_secret_name`` (the one secret-name rule, for the roles' templates).

Documentation lives in ``postgresql_model.yml``, ``postgresql_credentials.yml`` and
``credential_secret_name.yml`` next to this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import attach_credentials, build_model
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.secrets import secret_name


def postgresql_model(cr, operator_config=None, existing_secrets=None, credentials=True):
    """Wrap :func:`build_model`; every manifest problem becomes one AnsibleFilterError message.
    ``credentials=False``: the model without any password (safe to show)."""
    try:
        return build_model(cr, operator_config, existing_secrets, credentials=bool(credentials))
    except PgfleetError as exc:
        raise AnsibleFilterError(exc.msg) from exc


def postgresql_credentials(model, existing_secrets=None):
    """Wrap :func:`attach_credentials`: the model with usernames and passwords (use no_log)."""
    if not isinstance(model, dict) or "secrets" not in model or "roles" not in model:
        raise AnsibleFilterError("postgresql_credentials: the input must be a cluster model "
                                 "(the output of pgfleet.postgres.postgresql_model)")
    return attach_credentials(model, existing_secrets)


def credential_secret_name(username, model):
    """Name of ``username``'s credential secret in the cluster of ``model`` (its ``secret_name_template``)."""
    if not isinstance(model, dict) or "name" not in model or "config" not in model:
        raise AnsibleFilterError("credential_secret_name: the argument must be a cluster model "
                                 "(the output of pgfleet.postgres.postgresql_model)")
    return secret_name(username, model["name"], model["config"])


class FilterModule(object):
    def filters(self):
        return {"postgresql_model": postgresql_model, "postgresql_credentials": postgresql_credentials,
                "credential_secret_name": credential_secret_name}
