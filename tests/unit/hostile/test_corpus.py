"""The hostile-input corpus (hostile_corpus.py) against the manifest model, in process: every case is refused
by ``build_model`` with a ManifestErrors naming the field and the fix, no other exception, a bounded
message, within a time and memory ceiling (a forked child under limits)."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors, PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model
from hostile_bounded import bounded
from hostile_corpus import BASE, CASES, SKIPPED, manifest

MAX_MESSAGE = 4000


def _refusal(cr):
    try:
        model = build_model(cr, None)
    except ManifestErrors as exc:
        return {"refused": True, "msg": exc.msg, "errors": [[e.field, e.msg, e.fix] for e in exc.errors]}
    except PgfleetError as exc:
        return {"refused": True, "msg": exc.msg, "errors": [[exc.context.get("field", ""), exc.msg, None]]}
    return {"refused": False, "warnings": model["warnings"]}


def test_the_base_manifest_is_valid():
    assert bounded(_refusal, BASE)["refused"] is False


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 100
    assert len(set(c[0] for c in CASES)) == len(CASES)


@pytest.mark.parametrize("change, field", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_refused_naming_the_field_and_the_fix(change, field):
    answer = bounded(_refusal, manifest(change))
    assert answer["refused"], "accepted: %s" % answer.get("warnings")
    matching = [e for e in answer["errors"] if e[0].startswith(field)]
    assert matching, "no error names %s: %s" % (field, answer["msg"][:MAX_MESSAGE])
    for _field, msg, fix in matching:
        assert fix, "no fix in %r" % msg
    assert len(answer["msg"]) < MAX_MESSAGE, answer["msg"][:300]
    for word in ("Traceback", "AnsibleUnsafe", "object at 0x"):
        assert word not in answer["msg"]


@pytest.mark.parametrize("change, field", [(c[1], c[2]) for c in SKIPPED], ids=[c[0] for c in SKIPPED])
def test_skipped_with_a_warning_naming_the_field(change, field):
    answer = bounded(_refusal, manifest(change))
    assert not answer["refused"], answer.get("msg")
    assert [w for w in answer["warnings"] if w.startswith(field + ":") and "skipped" in w], answer["warnings"]
