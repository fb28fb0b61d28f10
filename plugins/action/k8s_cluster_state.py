# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.k8s_cluster_state``: the module's own body, in the task's worker when the task
runs on this machine (every reconcile does: the first and often the only step of a steady resync), as
a module anywhere else (plugins/plugin_utils/inprocess.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.modules import k8s_cluster_state
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction


class ActionModule(InProcessAction):
    module = k8s_cluster_state
