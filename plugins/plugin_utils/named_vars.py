# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Read a task's variables by name, as they are, for the actions that take large values by name
(``write_objects`` and ``k8s_apply_set``: ``objects_from``, ``live_from``).

On ansible-core 2.18 a template whose value is a list or a mapping is printed and parsed back, about a
second and tens of MB for a thousand secrets. An action that is given the variable's name instead reads
the value where it is. Only a variable that is itself a template (play, role or include vars) is
templated. Errors name the option and the path, never a value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.collections_abc import Mapping


def value_at(task_vars, templar, path, option):
    """The value at the dotted ``path`` (``cluster_render.objects``) among ``task_vars``; an
    :class:`AnsibleActionFail` that names ``option`` and ``path`` when it is not there."""
    if not isinstance(path, string_types) or not path.strip():
        # the type only: a task that put the objects themselves here would print their secrets
        raise AnsibleActionFail("%s: each entry must be a variable name (a dotted path such as cluster_render.objects), "
                                "not a %s" % (option, type(path).__name__))
    head, _sep, rest = path.strip().partition(".")
    if head not in task_vars:
        raise AnsibleActionFail("%s: %s is not defined (nothing was written)" % (option, path))
    value = task_vars[head]
    keys = rest.split(".") if rest else []
    while True:
        if isinstance(value, string_types):  # a variable defined as a template (play, role or include vars)
            value = templar.template(value)
        if not keys:
            return value
        key = keys.pop(0)
        if not isinstance(value, Mapping) or key not in value:
            raise AnsibleActionFail("%s: %s is not defined (nothing was written)" % (option, path))
        value = value[key]


def object_lists(task_vars, templar, paths, option):
    """The lists of objects (mappings) named by ``paths``, one after the other."""
    if not is_sequence(paths):
        raise AnsibleActionFail("%s: give a list of variable names, not a %s" % (option, type(paths).__name__))
    objects = []
    for path in paths:
        value = value_at(task_vars, templar, path, option)
        if not is_sequence(value) or not all(isinstance(obj, Mapping) for obj in value):
            raise AnsibleActionFail("%s: %s is not a list of objects (mappings); nothing was written" % (option, path))
        objects.extend(value)
    return objects
