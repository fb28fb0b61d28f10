"""Actions that take large values by name (k8s_apply_set objects_from/live_from, write_objects objects_from,
plugins/plugin_utils/named_vars.py): the task's variables are read as they are, and a name that is
wrong stops the task before anything is written, with a message that never shows a value."""

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.pgfleet.postgres.plugins.plugin_utils.named_vars import object_lists, value_at


class _Templar(object):
    def __init__(self, variables):
        self.variables = variables

    def template(self, value):
        # the only templates used below: "{{ name }}"; anything else is plain text
        return self.variables[value.strip("{} ")] if value.startswith("{{") else value


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
VARS = {"render": {"objects": [SECRET, ROLE]}, "extra": [], "state": {"objects": {"Secret": {}}},
        "templated": "{{ extra }}", "text": "plain words", "listed": [1, 2], "a": {"a": [ROLE]}}


def test_objects_are_read_in_order_and_as_they_are():
    objects = object_lists(VARS, _Templar(VARS), ["render.objects", "extra", "templated", "a.a"], "objects_from")
    assert objects == [SECRET, ROLE, ROLE] and objects[0] is SECRET  # the same object, not a copy
    assert value_at(VARS, _Templar(VARS), "state.objects", "live_from") is VARS["state"]["objects"]


@pytest.mark.parametrize("paths, words", [
    (["render.missing"], "objects_from: render.missing is not defined"),
    (["nothing"], "objects_from: nothing is not defined"),
    (["render.objects.deeper"], "is not defined"),
    (["text.deeper"], "is not defined"),
    (["listed"], "listed is not a list of objects"),
    (["text"], "text is not a list of objects"),
    ([""], "each entry must be a variable name"),
    (["../../x"], "../../x is not defined"),
    ("render.objects", "give a list of variable names"),
])
def test_a_wrong_name_stops_before_anything_is_written(paths, words):
    with pytest.raises(AnsibleActionFail) as err:
        object_lists(VARS, _Templar(VARS), paths, "objects_from")
    assert words in str(err.value)


@pytest.mark.parametrize("paths", [[SECRET], [[SECRET]], {"password": "aHVudGVyMg=="}])
def test_objects_given_instead_of_names_are_refused_without_showing_them(paths):
    """objects_from: "{{ cluster_render.objects }}" by mistake: the error must not print the secrets."""
    with pytest.raises(AnsibleActionFail) as err:
        object_lists(VARS, _Templar(VARS), paths, "objects_from")
    assert "aHVudGVyMg" not in str(err.value) and "objects_from" in str(err.value)
