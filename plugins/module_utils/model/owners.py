# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Owner references of a cluster's objects, decided here once (docs/design/model.md §1).

:func:`owner_references` is stored in the model as ``model["owner_references"]``; the templates of
the roles cluster, pooler and logical_backup print it as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

API_VERSION = "acid.zalan.do/v1"
KIND = "postgresql"


def owner_references(name, uid, config):
    """``[{apiVersion, kind, name, uid, controller: true}]`` naming the ``postgresql`` object, or ``[]``.

    Only with the operator option ``enable_owner_references`` and a known ``uid`` (a manifest rendered
    offline usually has none): a reference without a uid would be refused by the API server.
    """
    if not (config.get("enable_owner_references") and uid):
        return []
    return [{"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid, "controller": True}]
