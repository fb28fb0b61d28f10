# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Filters for the Spilo pod: env, SPILO_CONFIGURATION, pod pieces and the template checksum.

Thin wrappers around ``module_utils/model/spilo.py`` and ``module_utils/model/checksum.py``; each filter is
documented in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.errors import AnsibleFilterError
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import checksum as _checksum
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import spilo as _spilo


def _model(model, name):
    if not isinstance(model, dict) or "name" not in model or "config" not in model:
        raise AnsibleFilterError("%s: the input must be a cluster model (the output of pgfleet.postgres.postgresql_model)" % name)
    return model


def _manifest_errors(func):
    """A model problem (``PgfleetError``: field + fix) becomes the filter's error message."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PgfleetError as exc:
            raise AnsibleFilterError(exc.msg) from exc
    return wrapper


@_manifest_errors
def spilo_env(model, pod_environment=None):
    """Ordered env of the postgres container (docs/design/model.md §2)."""
    return _spilo.spilo_env(_model(model, "spilo_env"), pod_environment)


@_manifest_errors
def spilo_configuration(model, as_json=False):
    """SPILO_CONFIGURATION as a dict (or the compact JSON string Spilo reads)."""
    model = _model(model, "spilo_configuration")
    if as_json:
        return _spilo.spilo_configuration_json(model)
    return _spilo.spilo_configuration(model)


@_manifest_errors
def spilo_pod_parts(model, pod_environment=None):
    """Env, volumes, mounts, sidecars, init containers and scheduling of the Spilo pod."""
    return _spilo.pod_parts(_model(model, "spilo_pod_parts"), pod_environment)


def template_checksum(data, volume_claim_templates=None):
    """sha256 of a StatefulSet's pod template + volumeClaimTemplates (or of a pod template)."""
    if not isinstance(data, dict):
        raise AnsibleFilterError("template_checksum: the input must be a StatefulSet or a pod template (a dict)")
    if data.get("kind") == "StatefulSet":
        return _checksum.statefulset_checksum(data)
    return _checksum.template_checksum(data, volume_claim_templates)


class FilterModule(object):
    """pgfleet.postgres Spilo filters."""

    def filters(self):
        return {
            "spilo_env": spilo_env,
            "spilo_configuration": spilo_configuration,
            "spilo_pod_parts": spilo_pod_parts,
            "template_checksum": template_checksum,
        }
