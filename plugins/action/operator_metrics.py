# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.operator_metrics``: the module's own body, in the task's worker when the task
runs on this machine (every reconcile under ansible-operator does), as a module anywhere else
(plugins/plugin_utils/inprocess.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.modules import operator_metrics
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction


class ActionModule(InProcessAction):
    module = operator_metrics
