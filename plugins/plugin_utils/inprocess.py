# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Run a module's body inside the task's worker when the module would run on this same machine.

A module is packed (AnsiballZ: its module_utils found and zipped), written out and started in a new
Python process for every task. For a module the reconcile calls on every resync of every cluster
(``k8s_cluster_state``, ``operator_metrics``), that is a third of a steady resync's cost. When the task
runs on the controller itself (connection ``local``, no ``become``, no ``async``), the action plugin of
the same name runs the module's own ``run(module)`` here instead, with :class:`InProcessModule` in the
role of ``AnsibleModule``: the same argument spec and checks, ``fail_json``/``exit_json``/``warn``, the
values of ``no_log`` options removed from the result, the arguments as plain values (as from a module's JSON
payload: :func:`plain`) and the task's ``environment`` applied. Anywhere
else (a remote host, ``become``, ``async``) the module runs as a module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.collections_abc import Mapping, Set
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.unsafe_result import unsafe_result


class ModuleExit(Exception):
    """``exit_json``/``fail_json`` of :class:`InProcessModule`: ends the body with ``result``."""

    def __init__(self, result):
        super(ModuleExit, self).__init__("module exit")
        self.result = result


class InProcessModule(object):
    """What a module body uses of ``AnsibleModule``: ``params``, ``check_mode``, ``fail_json``, ``exit_json``, ``warn``."""

    def __init__(self, argument_spec, args, check_mode=False, supports_check_mode=True, **constraints):
        checked = ModuleArgumentSpecValidator(argument_spec, **constraints).validate(dict(args))
        self.no_log_values = set(checked._no_log_values)  # pylint: disable=protected-access
        self.check_mode = bool(check_mode)
        self.warnings = []
        if checked.error_messages:
            self.fail_json(msg="; ".join(checked.error_messages))
        if self.check_mode and not supports_check_mode:
            raise ModuleExit({"skipped": True, "msg": "remote module does not support check mode"})
        self.params = checked.validated_parameters

    def warn(self, warning):
        self.warnings.append(warning)

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise ModuleExit(kwargs)

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs)


def _plain_key(key):
    if isinstance(key, string_types):
        return str.__str__(key)
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)  # what a JSON object key becomes: "true", "null", "1", "1.5"
    return str(key)


def plain(value):
    """``value`` as a module process gets it from its JSON payload: plain dict, list, str, int, float, bool
    and None, never Ansible's marked subclasses (unsafe or tagged text, wrapped dicts and lists).

    A module body compares what it was given with what the API returned (``type(a) is type(b)`` for a
    scalar, as a JSON value would be); handed the worker's own values, a marked string would never equal
    the server's plain one."""
    if isinstance(value, string_types):
        return str.__str__(value)  # the plain str (itself if it is one); str() of an unsafe text returns itself
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return dict((_plain_key(k), plain(v)) for k, v in value.items())
    if is_sequence(value) or isinstance(value, Set):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return bytes.decode(value, "utf-8", "surrogateescape")  # an unsafe bytes' own decode marks its text
    return value


def runs_here(action):
    """Whether ``action``'s task would run its module on this machine, as this user, at once."""
    connection = getattr(action._connection, "transport", None) or action._play_context.connection
    return connection in ("local", "ansible.builtin.local") and not action._play_context.become and not action._task.async_val


def run_module_here(action, task_vars, argument_spec, body, supports_check_mode=True, **constraints):
    """``body(module)`` in this process with :class:`InProcessModule` (see the module docstring); the
    task's result. Call only when :func:`runs_here`."""
    saved = dict(os.environ)
    result = {}
    try:
        for env in action._task.environment or []:  # the task's `environment`, as a module would see it
            env = action._templar.template(env)
            if isinstance(env, dict):
                os.environ.update(dict((str(k), str(v)) for k, v in env.items() if isinstance(k, string_types)))
        module = None
        try:
            module = InProcessModule(argument_spec, plain(action._task.args), check_mode=action._task.check_mode,
                                     supports_check_mode=supports_check_mode, **constraints)
            result = body(module)
            if not isinstance(result, dict):  # a body that ends with exit_json returns nothing
                result = {}
        except ModuleExit as done:
            result = done.result
        if module is not None:
            if module.warnings:
                result["warnings"] = list(result.get("warnings") or []) + module.warnings
            if module.no_log_values:
                result = remove_values(result, module.no_log_values)
        result.setdefault("changed", False)
        return result
    finally:
        os.environ.clear()
        os.environ.update(saved)


class InProcessAction(ActionBase):
    """The action plugin of a module that can run here: set ``module`` to the module (it has
    ``argument_spec()``, ``run(module)`` and optionally ``CONSTRAINTS``, the other AnsibleModule checks).
    Runs ``run`` in this process when :func:`runs_here`, the module as a module otherwise."""

    module = None
    _supports_check_mode = True
    _supports_async = True  # as a module (runs_here is false under async)

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)
        if not runs_here(self):  # what the normal action does for a module
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        result = merge_hash(result, run_module_here(self, task_vars, self.module.argument_spec(), self.module.run,
                                                    **getattr(self.module, "CONSTRAINTS", {})))
        # marked unsafe as a whole, as a module's result is in every part: later tasks read it as it is
        # instead of copying it down to its last string at each mention (plugin_utils/unsafe_result.py)
        return unsafe_result(result)
