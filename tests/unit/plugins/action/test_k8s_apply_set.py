"""The action k8s_apply_set: objects_from and live_from read the task's variables as they are, and a
name that is wrong stops the task before anything is written."""

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.pgfleet.postgres.plugins.action import k8s_apply_set as action


class _Templar(object):
    def __init__(self, variables):
        self.variables = variables

    def template(self, value):
        # the only templates used below: "{{ name }}"
        return self.variables[value.strip("{} ")]


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
VARS = {"render": {"objects": [SECRET, ROLE]}, "extra": [], "state": {"objects": {"Secret": {}}},
        "templated": "{{ extra }}", "text": "plain words", "listed": [1, 2]}


def test_objects_are_read_in_order_and_as_they_are():
    objects = action._objects(VARS, ["render.objects", "extra", "templated"], _Templar(VARS))
    assert objects == [SECRET, ROLE] and objects[0] is SECRET  # the same object, not a copy
    assert action._lookup(VARS, "state.objects", _Templar(VARS), "live_from") is VARS["state"]["objects"]


@pytest.mark.parametrize("paths, words", [
    (["render.missing"], "objects_from: render.missing is not defined"),
    (["nothing"], "objects_from: nothing is not defined"),
    (["render.objects.deeper"], "is not defined"),
    (["listed"], "listed is not a list of objects"),
    ([""], "each entry must be a variable name"),
    ("render.objects", "give a list of variable names"),
])
def test_a_wrong_name_stops_before_anything_is_written(paths, words):
    with pytest.raises(AnsibleActionFail) as err:
        action._objects(VARS, paths, _Templar(VARS))
    assert words in str(err.value)
