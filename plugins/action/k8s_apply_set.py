# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.k8s_apply_set``: the module's own body, in the task's worker when the task runs
on this machine (plugins/plugin_utils/inprocess.py), as a module anywhere else.

A full reconcile hands this task every rendered object and every live one (a cluster with 1,000 users:
two lists of 1,000 secrets). As a module, both are serialised into its payload and parsed again in a
new process; in the worker they are read where they already are. With ``objects_from`` and ``live_from``
they are not even templated: on ansible-core 2.18 a template whose value is a list is printed and parsed
back (about a second and 30 MB for a thousand small secrets), so those options name the variables and
this plugin reads them from the task's variables as they are (plugins/plugin_utils/named_vars.py, shared
with write_objects)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six.moves.collections_abc import Mapping
from ansible_collections.pgfleet.postgres.plugins.modules import k8s_apply_set
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.named_vars import object_lists, value_at


class ActionModule(InProcessAction):
    module = k8s_apply_set

    def run(self, tmp=None, task_vars=None):
        args = dict(self._task.args)
        objects_from, live_from = args.pop("objects_from", None), args.pop("live_from", None)
        if objects_from is None and live_from is None:
            return super(ActionModule, self).run(tmp, task_vars)
        if objects_from is not None and args.get("objects") is not None:
            raise AnsibleActionFail("parameters are mutually exclusive: objects|objects_from")
        if live_from is not None and args.get("live") is not None:
            raise AnsibleActionFail("parameters are mutually exclusive: live|live_from")
        if objects_from is not None:
            args["objects"] = object_lists(task_vars or {}, self._templar, objects_from, "objects_from")
        if live_from is not None:
            live = value_at(task_vars or {}, self._templar, live_from, "live_from")
            if not isinstance(live, Mapping):
                raise AnsibleActionFail("live_from: %s is not a mapping of kinds to objects; nothing was written" % live_from)
            args["live"] = live
        self._task.args = args
        return super(ActionModule, self).run(tmp, task_vars)
