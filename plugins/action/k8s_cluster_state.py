# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.k8s_cluster_state``: the module's own body, in the task's worker when the task
runs on this machine (every reconcile does: the first and often the only step of a steady resync), as
a module anywhere else (plugins/plugin_utils/inprocess.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.pgfleet.postgres.plugins.modules import k8s_cluster_state
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import run_module_here, runs_here


class ActionModule(ActionBase):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if not runs_here(self):
            return merge_hash(result, self._execute_module(task_vars=task_vars))
        return merge_hash(result, run_module_here(self, task_vars, k8s_cluster_state.argument_spec(), k8s_cluster_state.run,
                                                  **k8s_cluster_state.CONSTRAINTS))
