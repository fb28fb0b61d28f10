"""examples/ holds verbatim copies of the reference manifests and operator ConfigMap (they must
work unchanged): when the shared reference directory is beside the clone, the copies must match
it byte for byte."""
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("PGFLEET_REFERENCE_DIR") or os.path.join(os.path.dirname(ROOT), "shared", "reference", "manifests")
NAMES = ["minimal-postgres-manifest.yaml", "complete-postgres-manifest.yaml", "configmap.yaml"]


@pytest.mark.parametrize("name", NAMES)
def test_example_is_a_verbatim_copy_of_the_reference(name):
    original = os.path.join(SHARED, name)
    if not os.path.exists(original):
        pytest.skip("no shared reference directory beside the clone (%s)" % SHARED)
    with open(original, "rb") as a, open(os.path.join(ROOT, "examples", name), "rb") as b:
        assert a.read() == b.read()
