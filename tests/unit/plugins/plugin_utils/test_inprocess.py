"""plugins/plugin_utils/inprocess.py: a module body run in the task's worker behaves as AnsibleModule would."""

import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.modules import k8s_cluster_state, operator_metrics
from ansible_collections.pgfleet.postgres.plugins.plugin_utils import inprocess


class _Obj(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _action(args, connection="local", become=False, async_val=0, environment=None, check_mode=False):
    task = _Obj(args=args, environment=environment or [], check_mode=check_mode, async_val=async_val)
    return _Obj(_connection=_Obj(transport=connection), _play_context=_Obj(connection=connection, become=become),
                _task=task, _templar=_Obj(template=lambda value: value))


def test_runs_here_only_on_this_machine_as_this_user_at_once():
    assert inprocess.runs_here(_action({}))
    assert not inprocess.runs_here(_action({}, connection="ssh"))
    assert not inprocess.runs_here(_action({}, become=True))
    assert not inprocess.runs_here(_action({}, async_val=10))


def test_spec_and_constraints_are_checked_like_ansible_module():
    spec = k8s_cluster_state.argument_spec()
    result = inprocess.run_module_here(_action({}), {}, spec, k8s_cluster_state.run, **k8s_cluster_state.CONSTRAINTS)
    assert result["failed"] and "one of the following is required: manifest, name" in result["msg"]
    result = inprocess.run_module_here(_action({"name": "a"}), {}, spec, k8s_cluster_state.run, **k8s_cluster_state.CONSTRAINTS)
    assert result["failed"] and "namespace" in result["msg"]
    result = inprocess.run_module_here(_action({"manifest": {}, "full_sync_period": "x"}), {}, spec, k8s_cluster_state.run)
    assert result["failed"] and "full_sync_period" in result["msg"]
    result = inprocess.run_module_here(_action({"manifest": {}, "bogus": 1}), {}, spec, k8s_cluster_state.run)
    assert result["failed"] and "bogus" in result["msg"]


def test_body_failure_and_check_mode():
    metrics = [{"name": "pgfleet_x_total", "type": "counter"}]
    result = inprocess.run_module_here(_action({"metrics": metrics}, check_mode=True), {}, operator_metrics.argument_spec(),
                                       operator_metrics.run)
    assert result["changed"] is False and result["posted"] == 0 and len(result["payloads"]) == 1
    bad = inprocess.run_module_here(_action({"metrics": [{"name": "x y", "type": "counter"}]}), {}, operator_metrics.argument_spec(),
                                    operator_metrics.run)
    assert bad["failed"] and "x y" in bad["msg"]


def test_warnings_no_log_values_and_environment(monkeypatch):
    monkeypatch.delenv("PGFLEET_INPROCESS_PROBE", raising=False)
    spec = {"secret": {"type": "str", "no_log": True}, "name": {"type": "str"}}
    seen = {}

    def body(module):
        seen["env"] = os.environ.get("PGFLEET_INPROCESS_PROBE")
        module.warn("careful")
        module.exit_json(echo="%s and %s" % (module.params["name"], module.params["secret"]))

    action = _action({"secret": "hunter2-long", "name": "n"}, environment=[{"PGFLEET_INPROCESS_PROBE": "on"}])
    result = inprocess.run_module_here(action, {}, spec, body)
    assert seen["env"] == "on" and "PGFLEET_INPROCESS_PROBE" not in os.environ  # applied, then restored
    assert result["warnings"] == ["careful"] and "hunter2-long" not in result["echo"] and result["changed"] is False


def test_unsupported_check_mode_is_skipped():
    result = inprocess.run_module_here(_action({}, check_mode=True), {}, {}, lambda module: {"ran": True}, supports_check_mode=False)
    assert result.get("skipped") is True and "ran" not in result


@pytest.mark.parametrize("period", [0, 59])
def test_k8s_cluster_state_checks_its_period_in_process(period):
    result = inprocess.run_module_here(_action({"manifest": {}, "full_sync_period": period}), {}, k8s_cluster_state.argument_spec(),
                                       k8s_cluster_state.run, **k8s_cluster_state.CONSTRAINTS)
    assert result["failed"] and "too short" in result["msg"]


def test_unsafe_result_marks_every_string_as_wrap_var_does():
    from ansible.utils.unsafe_proxy import AnsibleUnsafeText, wrap_var
    from ansible_collections.pgfleet.postgres.plugins.plugin_utils import unsafe_result

    data = {"a": ["x", {"{{ b }}": "{{ lookup('pipe', 'id') }}"}, 1, 2.5, True, None, ("t", "u"), {"s"}, b"raw"], "n": {}}
    got = unsafe_result.unsafe_result(dict(data))
    if unsafe_result.UnsafeDict is None:  # ansible-core 2.19: returned as it is
        assert got == data
        return
    assert getattr(got, "__UNSAFE__", False) and got.copy().__class__ is got.__class__
    assert got == wrap_var(data)

    def strings(value):
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in strings(k) + strings(v)]
        if isinstance(value, (list, tuple, set)):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    assert all(isinstance(s, AnsibleUnsafeText) for s in strings(got))


def test_arguments_reach_the_body_as_plain_values_like_a_json_payload():
    """A body compares what it was given with the API's answer by type too (k8s/diff.py): a marked string
    from the worker must reach it as the plain str a module process would have parsed."""
    from ansible.utils.unsafe_proxy import wrap_var

    given = wrap_var({"s": "text", "n": {"k": ["a", ("t", 1)], 1: True, None: 2.5}, "b": b"raw", "set": {"x"}})
    got = inprocess.plain(given)
    assert got == {"s": "text", "n": {"k": ["a", ["t", 1]], "1": True, "null": 2.5}, "b": "raw", "set": ["x"]}

    def types(value):
        if isinstance(value, dict):
            return [type(value)] + [t for k, v in value.items() for t in types(k) + types(v)]
        if isinstance(value, list):
            return [type(value)] + [t for v in value for t in types(v)]
        return [type(value)]

    assert set(types(got)) <= {dict, list, str, int, float, bool}
    seen = {}
    inprocess.run_module_here(_action({"name": wrap_var("n")}), {}, {"name": {"type": "str"}},
                              lambda module: seen.update(kind=type(module.params["name"])))
    assert seen["kind"] is str
