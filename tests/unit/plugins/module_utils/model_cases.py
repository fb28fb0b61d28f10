# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A small postgresql manifest for the model's unit tests, and its model without credentials."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import manifest as m


def small_cr(name="acid-test", team="acid", instances=2, uid=None, **spec):
    """A postgresql object in namespace prod, PostgreSQL 18, a 1Gi volume, ``spec`` on top."""
    cr = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
          "metadata": {"name": name, "namespace": "prod"},
          "spec": {"teamId": team, "numberOfInstances": instances, "volume": {"size": "1Gi"}, "postgresql": {"version": "18"}}}
    if uid is not None:
        cr["metadata"]["uid"] = uid
    cr["spec"].update(copy.deepcopy(spec))
    return cr


def small_model(config=None, **kwargs):
    """The secret-free model of :func:`small_cr` (``kwargs``) under the operator ``config``."""
    return m.build_model_without_credentials(small_cr(**kwargs), config or {})
