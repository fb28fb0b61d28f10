# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.k8s_major_upgrade``: the module's own body, in the task's worker when the task runs on
this machine (plugins/plugin_utils/inprocess.py), as a module anywhere else.

Every full reconcile runs it (it decides, most of the time, that there is nothing to upgrade);
as a module it is a new Python process of its own next to a playbook process that holds the whole cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.modules import k8s_major_upgrade
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction


class ActionModule(InProcessAction):
    module = k8s_major_upgrade
