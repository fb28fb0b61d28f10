"""Fixture ``render_case(case) -> Rendered``: each case is rendered twice into the same temporary
directory, once per test module, by a real ``ansible-playbook playbooks/render.yml`` run.
"""

import pytest
from render_helpers import Rendered, cluster_dir, read_objects, run_render


@pytest.fixture(scope="module")
def render_case(tmp_path_factory):
    """``render_case(case) -> Rendered``: each case is rendered (twice) once per test module."""
    cache = {}

    def render(case):
        if case["id"] not in cache:
            out = str(tmp_path_factory.mktemp(case["id"]) / "out")
            first = run_render(case["manifest"], out, case.get("config"), case.get("pod_env"))
            assert first.returncode == 0, first.stdout + first.stderr
            objects_first = read_objects(out)
            second = run_render(case["manifest"], out, case.get("config"), case.get("pod_env"))
            assert second.returncode == 0, second.stdout + second.stderr
            cache[case["id"]] = Rendered(case, cluster_dir(out), first, second, objects_first, read_objects(out))
        return cache[case["id"]]

    return render
