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
this plugin reads them from the task's variables as they are."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.collections_abc import Mapping
from ansible_collections.pgfleet.postgres.plugins.modules import k8s_apply_set
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.inprocess import InProcessAction

_MISSING = object()


def _lookup(task_vars, path, templar, option):
    """The value at ``path`` (``name`` or ``name.key.key``) in the task's variables, as it is."""
    if not isinstance(path, string_types) or not path.strip():
        raise AnsibleActionFail("%s: each entry must be a variable name (a dotted path such as cluster_render.objects); got %r"
                                % (option, path))
    parts = path.strip().split(".")
    value = task_vars.get(parts[0], _MISSING)
    for key in parts[1:]:
        if isinstance(value, string_types):
            value = templar.template(value)  # a variable that is itself a template (play or role vars)
        if not isinstance(value, Mapping) or key not in value:
            value = _MISSING
            break
        value = value[key]
    if value is _MISSING:
        raise AnsibleActionFail("%s: %s is not defined (nothing was written)" % (option, path))
    if isinstance(value, string_types):
        value = templar.template(value)
    return value


def _objects(task_vars, paths, templar):
    if not is_sequence(paths):
        raise AnsibleActionFail("objects_from: give a list of variable names; got %r" % (paths,))
    objects = []
    for path in paths:
        value = _lookup(task_vars, path, templar, "objects_from")
        if not is_sequence(value) or not all(isinstance(obj, Mapping) for obj in value):
            raise AnsibleActionFail("objects_from: %s is not a list of objects (mappings); nothing was written" % path)
        objects.extend(value)
    return objects


class ActionModule(InProcessAction):
    module = k8s_apply_set

    def run(self, tmp=None, task_vars=None):
        args = self._task.args
        if args.get("objects_from") is not None or args.get("live_from") is not None:
            task_vars = task_vars or {}
            if args.get("objects") is not None and args.get("objects_from") is not None:
                raise AnsibleActionFail("parameters are mutually exclusive: objects|objects_from")
            if args.get("live") is not None and args.get("live_from") is not None:
                raise AnsibleActionFail("parameters are mutually exclusive: live|live_from")
            args = dict(args)
            if args.get("objects_from") is not None:
                args["objects"] = _objects(task_vars, args.pop("objects_from"), self._templar)
            if args.get("live_from") is not None:
                live = _lookup(task_vars, args.pop("live_from"), self._templar, "live_from")
                if not isinstance(live, Mapping):
                    raise AnsibleActionFail("live_from: the value is not a mapping of kinds to objects; nothing was written")
                args["live"] = live
            args.pop("objects_from", None)
            args.pop("live_from", None)
            self._task.args = args
        return super(ActionModule, self).run(tmp, task_vars)
