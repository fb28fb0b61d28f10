"""Run a module's ``main()`` in process with given arguments (no server, no ansible-playbook).

``run_module(module, args) -> ModuleExit``: ``exit_json`` / ``fail_json`` are caught; ``.kind`` is
``"exit"`` or ``"fail"``, ``.result`` what the module returned, plus ``no_log_values`` (the values the
module had registered to be masked by then).
"""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    def exit_json(self, **kwargs):
        raise ModuleExit("exit", dict(kwargs, no_log_values=set(self.no_log_values)))

    def fail_json(self, **kwargs):
        raise ModuleExit("fail", dict(kwargs, no_log_values=set(self.no_log_values)))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def runner(module, args):
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises(ModuleExit) as caught:
            module.main()
        return caught.value

    return runner
