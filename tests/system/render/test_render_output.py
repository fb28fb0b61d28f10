"""render.yml never deletes or overwrites a file it did not write (issue: rendering a second manifest
into the first one's directory destroyed its Secret files and a user's own file)."""

import os

from render_helpers import REFERENCE, run_render

MINIMAL = os.path.join(REFERENCE, "minimal-postgres-manifest.yaml")


def _files(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".yaml"))


def _render(manifest, out, cluster="acid-minimal-cluster"):
    """render.yml of ``manifest`` into ``out``, which must succeed; returns the directory of ``cluster``."""
    proc = run_render(str(manifest), str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "default" / cluster


def test_second_manifest_keeps_the_first_ones_files_and_a_users_file(tmp_path):
    out = tmp_path / "out"
    first_dir = _render(MINIMAL, out)
    first_files = _files(str(first_dir))
    secrets = [n for n in first_files if "-secret-" in n]
    assert secrets, first_files
    before = dict((n, (first_dir / n).read_text()) for n in first_files)
    (out / "my-notes.yaml").write_text("mine: true\n")
    (first_dir / "99-user-own.yaml").write_text("also: mine\n")

    other = tmp_path / "other.yaml"
    other.write_text(open(MINIMAL).read().replace("acid-minimal-cluster", "acid-other-cluster"))
    other_dir = _render(other, out, "acid-other-cluster")

    assert (out / "my-notes.yaml").read_text() == "mine: true\n"
    assert (first_dir / "99-user-own.yaml").read_text() == "also: mine\n"
    assert dict((n, (first_dir / n).read_text()) for n in _files(str(first_dir)) if n != "99-user-own.yaml") == before
    assert any("-secret-" in n for n in _files(str(other_dir)))


def test_a_foreign_file_in_the_way_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    cdir = _render(MINIMAL, out)
    names = _files(str(cdir))
    # someone else's file where our StatefulSet goes, and our marker forgets it
    target = [n for n in names if "-statefulset-" in n][0]
    (cdir / ".pgfleet-render.json").write_text((cdir / ".pgfleet-render.json").read_text().replace('"%s"' % target, '"x%s"' % target))
    (cdir / target).write_text("not: ours\n")
    again = run_render(MINIMAL, str(out))
    output = " ".join((again.stdout + again.stderr).split())
    assert again.returncode != 0
    assert "refusing to overwrite" in output and target in output, output[-3000:]
    assert (cdir / target).read_text() == "not: ours\n"


def test_a_multi_document_file_renders_its_postgresql_document(tmp_path):
    """Like Zalando's minimal-master-replica-svcmonitor.yaml: a Service and a ServiceMonitor beside the manifest."""
    path = tmp_path / "with-svcmonitor.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: acid-minimal-cluster-svc-metrics-master\nspec:\n  ports: []\n"
                    "---\n" + open(MINIMAL).read() + "\n---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n"
                    "metadata:\n  name: acid-minimal-cluster-svcm-master\n")
    names = _files(str(_render(path, tmp_path / "out")))
    assert any("-statefulset-acid-minimal-cluster" in n for n in names), names
    assert not any("servicemonitor" in n or "svc-metrics" in n for n in names), names


def test_check_mode_reports_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = run_render(str(MINIMAL), str(out), extra=("--check",))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "objects of default/acid-minimal-cluster" in proc.stdout and not out.exists()
    first_dir = _render(MINIMAL, out)
    before = dict((n, (first_dir / n).read_text()) for n in os.listdir(str(first_dir)))
    (first_dir / "99-user-own.yaml").write_text("also: mine\n")
    again = run_render(str(MINIMAL), str(out), extra=("--check",))
    assert again.returncode == 0, again.stdout[-3000:]
    assert dict((n, (first_dir / n).read_text()) for n in os.listdir(str(first_dir)) if n != "99-user-own.yaml") == before
