# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.k8s_cluster_status``: the module's own body, in the task's worker when the task runs on
this machine (plugins/plugin_utils/inprocess.py), as a module anywhere else.

Every full reconcile writes its outcome through it; as a module it is one more Python process
started per reconcile."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.modules import k8s_cluster_status
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction


class ActionModule(InProcessAction):
    module = k8s_cluster_status
