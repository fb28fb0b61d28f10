# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.render_objects``: render a role's object templates, in order, into objects.

Why an action and not ``lookup('ansible.builtin.template', ...)``: that lookup deep-copies every task
variable (the model with every user included) once per call, and Ansible's variable proxy walks each
top-level variable again on every access. With one call per credential Secret, rendering was
quadratic in users. Here every template file is read and compiled once per task, and rendered with a
small, explicit variable dict (O(vars) in the task): nothing else of the play is visible to it.

The templates are rendered by Ansible's own Jinja environment (the same filters, tests and
undefined handling as the template lookup) and parsed like ``| from_yaml``; the StatefulSet's pod
template checksum is stamped by ``model/checksum.py``. The result holds secrets: use ``no_log``.

ansible-core 2.18 and 2.19 (meta/runtime.yml): 2.19 removed the environment class and the
concatenation helper used on 2.18, so there a templar of the task's own renders each object as an
include of its file (parsed once per task), seeing only the given variables. The objects are the same
on both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase
from ansible.plugins.filter.core import from_yaml
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import checksum
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.unsafe_result import unsafe_result

try:  # ansible-core 2.19 and later: data tagging; a template file is rendered through the public Templar
    from ansible.errors import AnsibleTemplateSyntaxError
    from ansible.template import trust_as_template
    AnsibleEnvironment = ansible_eval_concat = None
except ImportError:  # ansible-core 2.18: the template is compiled once by Ansible's Jinja environment
    from ansible.template import AnsibleEnvironment
    from ansible.template.native_helpers import ansible_eval_concat
    AnsibleTemplateSyntaxError = trust_as_template = None

try:  # libyaml's parser: the objects are the same plain data (the result is marked unsafe as a whole)
    from yaml import CSafeLoader as _YamlLoader
    from yaml import load as _yaml_load
except ImportError:
    _YamlLoader = _yaml_load = None


def _parse_yaml(text):
    """A rendered object: libyaml's safe loader when present (from_yaml builds Ansible's own string and
    mapping types through a Python constructor, a third of the render time at 10,000 Secrets)."""
    if _YamlLoader is None:
        return from_yaml(text)
    return _yaml_load(str(text), Loader=_YamlLoader)  # libyaml takes a str, not a subclass (unsafe text)


_ENTRY_KEYS = frozenset(("template", "templates", "when", "loop", "loop_over", "loop_var", "checksum"))
_ITEM_KEYS = frozenset(("template", "as"))


def _entries(objects):
    if not isinstance(objects, list):
        raise AnsibleActionFail("render_objects: objects must be a list")
    for entry in objects:
        if isinstance(entry, string_types):
            entry = {"template": entry}
        if not isinstance(entry, dict) or bool(entry.get("template")) == bool(entry.get("templates")):
            raise AnsibleActionFail("render_objects: each entry of objects is a template name or a mapping with template or templates")
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            raise AnsibleActionFail("render_objects: unknown key(s) %s in an entry of objects" % ", ".join(unknown))
        if "loop" in entry and not (isinstance(entry["loop"], list) and entry.get("loop_var")):
            raise AnsibleActionFail("render_objects: loop must be a list and needs loop_var")
        if "loop_over" in entry and not (isinstance(entry["loop_over"], string_types) and entry.get("loop_var") and "loop" not in entry):
            raise AnsibleActionFail("render_objects: loop_over is a dotted path into vars, needs loop_var, and excludes loop")
        items = [entry["template"]] if entry.get("template") else entry["templates"]
        steps = []
        for item in items if isinstance(items, list) else [None]:
            if isinstance(item, string_types):
                item = {"template": item}
            if not isinstance(item, dict) or not isinstance(item.get("template"), string_types) or set(item) - _ITEM_KEYS:
                raise AnsibleActionFail("render_objects: templates holds names or mappings with template and as")
            steps.append(item)
        yield entry, steps


def _loop_items(entry, variables):
    """The items of an entry: ``loop`` (a list), ``loop_over`` (a dotted path into the variables), or one pass."""
    if "loop" in entry:
        return entry["loop"]
    if "loop_over" not in entry:
        return [None]
    value = variables
    for key in entry["loop_over"].split("."):
        if not isinstance(value, dict) or key not in value:
            raise AnsibleActionFail("render_objects: loop_over %s: no key %s" % (entry["loop_over"], key))
        value = value[key]
    if not isinstance(value, list):
        raise AnsibleActionFail("render_objects: loop_over %s is not a list" % entry["loop_over"])
    return value


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("objects", "vars", "vars_from"))

    def _compile(self, env, compiled, name):
        """The template file ``name`` of the role, compiled once per task."""
        if name not in compiled:
            path = self._find_needle("templates", name)
            if trust_as_template is not None:
                # 2.19 parses a string at every render; a template Jinja loads by name is parsed once and
                # kept. So each object is an include of the file, by a templar whose search path is the
                # directory the name is relative to (the role's templates). The include is ours: trusted.
                root, rel = (path[:-len(name) - 1], name) if path.endswith(os.sep + name) else os.path.split(path)
                if root not in env:
                    env[root] = self._templar.copy_with_new_env(available_variables={}, searchpath=[root])
                compiled[name] = (env[root], trust_as_template("{%% include %s %%}" % json.dumps(rel)))
                return compiled[name]
            data, _show = self._loader._get_file_contents(path)
            try:
                compiled[name] = env.from_string(to_text(data, errors="surrogate_or_strict"))
            except Exception as exc:  # a syntax error names the template, never a variable's value
                raise AnsibleActionFail("render_objects: template %s does not compile: %s" % (name, exc)) from exc
        return compiled[name]

    @staticmethod
    def _render(env, template, name, variables):
        """One object: ``template`` rendered with plain dicts (no AnsibleJ2Vars: no variable is templated again)."""
        if trust_as_template is not None:
            return ActionModule._render_tagged(env, template, name, variables)
        context = template.new_context(dict(template.globals, **variables), shared=True)
        # The text is parsed at once and never templated again, so whether a value was "unsafe" does not
        # matter here; setting the flag skips a walk over every variable at each name the template reads.
        context.unsafe = True
        try:
            text = ansible_eval_concat(template.root_render_func(context))
            return _parse_yaml(text) if isinstance(text, string_types) else text
        except Exception as exc:  # the message of a failed filter may quote values: the task runs under no_log
            raise AnsibleActionFail("render_objects: rendering %s failed: %s" % (name, to_text(exc))) from exc

    @staticmethod
    def _render_tagged(_env, compiled, name, variables):
        """ansible-core 2.19: ``compiled`` is ``(templar, include)`` (``_compile``); the templar sees only ``variables``.

        Values that come from the play (facts, task arguments) or from a file are not trusted as templates
        in 2.19, so no variable is templated again.
        """
        templar, text = compiled
        templar.available_variables = variables
        try:
            # as the template lookup renders a file: the file's backslashes are not escaped again
            value = templar.template(text, escape_backslashes=False)
            return from_yaml(value) if isinstance(value, string_types) else value
        except AnsibleTemplateSyntaxError as exc:  # 2.19 reports a syntax error when the template is rendered
            raise AnsibleActionFail("render_objects: template %s does not compile: %s" % (name, to_text(exc))) from exc
        except Exception as exc:  # the message of a failed filter may quote values: the task runs under no_log
            raise AnsibleActionFail("render_objects: rendering %s failed: %s" % (name, to_text(exc))) from exc

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        variables = dict(self._task.args.get("vars") or {})
        names = self._task.args.get("vars_from") or []
        if not isinstance(names, list):
            raise AnsibleActionFail("render_objects: vars_from must be a list of variable names")
        for name in names:
            # Read as the play holds it: a fact is already templated, so a mapping or list is taken as it is
            # (passing it as "{{ name }}" would print and re-parse the whole model on every task).
            if name not in (task_vars or {}):
                raise AnsibleActionFail("render_objects: vars_from names %s, which is not defined" % name)
            value = task_vars[name]
            variables[name] = self._templar.template(value) if isinstance(value, string_types) else value
        # Ansible's own environment, as the template lookup uses it (filters, tests, undefined handling);
        # on 2.19 templars of this task's own (by search path), which see only the variables of each render
        if trust_as_template is not None:
            env = {}  # the templars by search path (_compile)
        else:
            env = self._templar.copy_with_new_env(environment_class=AnsibleEnvironment).environment
        compiled = {}
        objects = []
        stamped = None
        for entry, steps in _entries(self._task.args.get("objects")):
            if not boolean(entry.get("when", True), strict=False):
                continue
            for item in _loop_items(entry, variables):
                local_vars = dict(variables)
                if "loop_var" in entry:
                    local_vars[entry["loop_var"]] = item
                for step in steps:
                    obj = self._render(env, self._compile(env, compiled, step["template"]), step["template"], local_vars)
                    if entry.get("checksum"):
                        obj = checksum.annotate(obj)
                        stamped = obj["metadata"]["annotations"][checksum.ANNOTATION]
                    if step.get("as"):
                        local_vars[step["as"]] = obj
                    objects.append(obj)
        result.update(changed=False, objects=objects, template_checksum=stamped)
        return unsafe_result(result)  # read as it is by later tasks (plugin_utils/unsafe_result.py)
