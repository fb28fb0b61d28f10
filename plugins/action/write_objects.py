# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.write_objects``: write rendered objects, one YAML file each, into a cluster's directory.

The objects are read from the play's variables by name (``objects_from``) in this process: no secret is
templated into an argument, put on a command line or piped to another process, and a list of a thousand
Secrets is not printed and parsed again (a templated argument on ansible-core 2.18 is). The rules of what
may be written, replaced or removed are in ``plugins/plugin_utils/render_files.py``. Messages name files
and objects, never a value, so the task needs no ``no_log``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase
from ansible_collections.pgfleet.postgres.plugins.plugin_utils import render_files
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.named_vars import object_lists


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("directory", "namespace", "name", "objects_from"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        for key in ("directory", "namespace", "name"):
            if not isinstance(args.get(key), string_types) or not args[key]:
                raise AnsibleActionFail("write_objects: %s is required (a non-empty string)" % key)
        names = args.get("objects_from")
        if not isinstance(names, list) or not all(isinstance(n, string_types) and n for n in names):
            raise AnsibleActionFail("write_objects: objects_from must be a list of variable names")
        objects = object_lists(task_vars or {}, self._templar, names, "write_objects: objects_from")
        try:
            entries = render_files.name_files(objects)
            # check mode: the same checks and the same report of what would be written, nothing touched
            written = render_files.write(args["directory"], args["namespace"], args["name"], entries,
                                         dry_run=bool(self._task.check_mode))
        except render_files.Refused as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        written["summary"] = render_files.summary(entries, args["namespace"], args["name"], written)
        written["written"] = written.pop("changed")
        result.update(written)
        result["changed"] = bool(written["written"] or written["removed"])
        return result
