# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Action ``pgfleet.postgres.cluster_model``: the cluster model of a manifest, with credentials, as a task result.

Why an action and not ``set_fact`` with the ``postgresql_model`` filter: on ansible-core 2.18 a template
whose value is a mapping is printed to text and parsed back (``ansible_eval_concat``), so every
``set_fact`` of the model cost a print and a parse of all of it (over 1 MB at 1,000 users, most of
render.yml's time). A registered action result is stored as it is: the model is built once in Python
and registered (``register: cluster_model``). Like every action result, it is marked unsafe, so no
manifest value is ever templated.

``validate_only``: build the model without credentials and return nothing of it, so a task that is not
``no_log`` shows why a manifest is refused (the message names the ``spec.`` field and the fix) before a
``no_log`` task builds it again with passwords.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import attach_credentials, build_model
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.unsafe_result import unsafe_result

# Keys Ansible gives a task result a meaning of its own: a model never carries them.
_RESULT_KEYS = frozenset(("changed", "failed", "skipped", "msg", "invocation", "ansible_facts", "diff", "deprecations"))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("manifest", "operator_config", "existing_secrets", "base", "validate_only"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        base = args.get("base") or None
        validate_only = boolean(args.get("validate_only", False), strict=True)
        if base is not None and not (isinstance(base, dict) and "secrets" in base and "roles" in base):
            raise AnsibleActionFail("cluster_model: base must be a cluster model built without credentials "
                                    "(the output of pgfleet.postgres.postgresql_model with credentials=false)")
        if base is None and not isinstance(args.get("manifest"), dict):
            raise AnsibleActionFail("cluster_model: manifest must be a postgresql object (a mapping)")
        try:
            model = base if base is not None else build_model(args["manifest"], args.get("operator_config") or {}, credentials=False)
        except PgfleetError as exc:  # names the spec. field and the fix; the model has no password yet
            raise AnsibleActionFail(exc.msg) from exc
        clash = sorted(_RESULT_KEYS.intersection(model))
        if clash:  # cannot happen with build_model; a hand-made base could carry them
            raise AnsibleActionFail("cluster_model: the model has key(s) %s, which a task result reserves" % ", ".join(clash))
        if validate_only:
            result["changed"] = False
            return result
        result.update(attach_credentials(model, args.get("existing_secrets") or None))
        result["changed"] = False
        # read as it is by every later task, not walked again at each (plugin_utils/unsafe_result.py)
        return unsafe_result(result)
