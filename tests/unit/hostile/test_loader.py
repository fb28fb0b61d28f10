"""The safe YAML loader (module_utils/model/loader.py): every refusal names the file and the fix,
never quotes the file's values, and happens in bounded time and memory."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import loader

LAUGHS = b"""apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-x}
spec:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  users:
    bomb: *g
"""

REFUSED = [
    ("duplicate-key", b"spec:\n  numberOfInstances: 1\n  teamId: a\n  numberOfInstances: 7\n",
     ['"numberOfInstances" twice', "line 2 and line 4"]),
    ("billion-laughs", LAUGHS, ["aliases", "expand to more than"]),
    ("recursive-alias", b"spec: &s\n  users: *s\n", ["recursive alias"]),
    ("empty", b"", ["is empty"]),
    ("only-comments", b"# nothing\n---\n", ["no YAML document"]),
    ("list", b"- kind: postgresql\n", ["is a list, not a mapping"]),
    ("scalar", b"just text\n", ["a single string, not a mapping"]),
    ("invalid-utf8", b"spec:\n  teamId: \xff\xfe\n", ["not UTF-8", "line 2"]),
    ("latin1", "spec:\n  teamId: caf\xe9\n".encode("latin-1"), ["not UTF-8"]),
    ("deep-nesting", b"[" * 200000, ["nests deeper than"]),
    ("deep-maps", b"".join(b"%sk:\n" % (b" " * i) for i in range(200)), ["nests deeper than"]),
    ("python-tag", b"spec: !!python/object/apply:os.system ['touch /tmp/pwned']\n", ["invalid YAML", "constructor"]),
    ("syntax", b"spec: {teamId: 'unclosed\n", ["not a YAML mapping (invalid YAML"]),
    ("control-char", b"spec:\n  teamId: a\x07b\n", ["control characters"]),
    ("tab-indent", b"spec:\n\tteamId: a\n", ["invalid YAML", "line 2"]),
    ("complex-key", b"? [a, b]\n: 1\n", ["not a plain value"]),
    ("two-postgresql", b"kind: postgresql\nmetadata: {name: a}\n---\nkind: postgresql\nmetadata: {name: b}\n",
     ["2 postgresql documents", "one object per file"]),
    ("no-postgresql", b"kind: Service\n---\nkind: ServiceMonitor\n", ["none is of kind postgresql"]),
    ("too-big", b"spec:\n  teamId: " + b"a" * (loader.MAX_BYTES + 10) + b"\n", ["bytes; at most"]),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("data, expected", [(c[1], c[2]) for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_the_file_named_and_no_content(data, expected):
    with pytest.raises(ManifestError) as info:
        loader.load_text(data, "manifest", "/in/pg.yaml", kind="postgresql")
    msg = info.value.msg
    assert msg.startswith("manifest: /in/pg.yaml: "), msg
    for part in expected:
        assert part in msg, msg
    assert info.value.fix
    assert len(msg) < 400, msg
    for secret in ("pwned", "lol", "unclosed", "caf"):
        assert secret not in msg, msg


def test_multi_document_file_gives_its_postgresql_document():
    data = (b"apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\n"
            b"apiVersion: acid.zalan.do/v1\nkind: postgresql\nmetadata: {name: acid-minimal}\nspec: {teamId: acid}\n---\n"
            b"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: mon}\n")
    doc = loader.load_text(data, kind="postgresql")
    assert doc["metadata"]["name"] == "acid-minimal"


def test_single_document_and_plain_types():
    doc = loader.load_text("\ufeffspec:\n  teamId: acid\n  list: [1, 2.5, true, null]\n".encode("utf-8"))
    assert doc == {"spec": {"teamId": "acid", "list": [1, 2.5, True, None]}}
    assert doc["spec"]["teamId"].__class__ is str


def test_merge_keys_are_not_duplicates():
    doc = loader.load_text(b"base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert doc["other"] == {"x": 1, "y": 2}


def test_small_aliases_are_fine():
    doc = loader.load_text(b"a: &r {cpu: 1}\nb: *r\n")
    assert doc["b"] == {"cpu": 1}


def test_file_errors(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        loader.load_file(str(tmp_path / "missing.yaml"))
    with pytest.raises(ManifestError, match="is not a file"):
        loader.load_file(str(tmp_path))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (loader.MAX_BYTES + 1))
    with pytest.raises(ManifestError, match="larger than"):
        loader.load_file(str(big), what="operator_config")
