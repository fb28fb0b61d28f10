"""k8s/state.py validate: what the reconcile refuses before it reads or writes anything else."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import state
from ansible_collections.pgfleet.postgres.tests.harness import cluster_manifest


def test_a_valid_manifest_gives_the_model():
    model, invalid = state.validate(cluster_manifest("acid-ok"), None)
    assert invalid is None and model["name"] == "acid-ok"


@pytest.mark.parametrize("annotations, config, field", [
    ({"pgfleet.io/password-rotation-grace": "soon"}, None, "metadata.annotations.pgfleet.io/password-rotation-grace"),
    ({"pgfleet.io/password-rotation": "maybe"}, None, "metadata.annotations.pgfleet.io/password-rotation"),
    ({}, {"password_rotation_user_retention": "forever"}, "config.password_rotation_user_retention"),
])
def test_a_rotation_setting_that_cannot_be_used_makes_the_manifest_invalid(annotations, config, field):
    cr = cluster_manifest("acid-rot")
    cr["metadata"]["annotations"] = annotations
    model, invalid = state.validate(cr, config)
    assert model is None
    assert invalid["fields"] == [field] and field in invalid["msg"]
