# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Unit tests of ``module_utils/model/checksum.py``: the pod template checksum."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import checksum

TEMPLATE = {
    "metadata": {"labels": {"application": "spilo", "cluster-name": "c"}, "annotations": {"a": "1"}},
    "spec": {"containers": [{"name": "postgres", "image": "spilo:1", "env": [{"name": "X", "value": "1"}]}]},
}
CLAIMS = [{"metadata": {"name": "pgdata"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]


def statefulset():
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "c", "annotations": {}},
            "spec": {"replicas": 2, "template": copy.deepcopy(TEMPLATE), "volumeClaimTemplates": copy.deepcopy(CLAIMS)}}


def test_known_value_and_canonical_form():
    expected_input = {"format": checksum.FORMAT_VERSION,
                      "podTemplate": {"metadata": {"labels": TEMPLATE["metadata"]["labels"]}, "spec": TEMPLATE["spec"]},
                      "volumeClaimTemplates": CLAIMS}
    text = json.dumps(expected_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert checksum.template_checksum(TEMPLATE, CLAIMS) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert checksum.canonical_json({"b": 1, "a": [2, {"d": 1, "c": "é"}]}) == '{"a":[2,{"c":"é","d":1}],"b":1}'


def test_key_order_does_not_matter():
    reordered = {"spec": copy.deepcopy(TEMPLATE["spec"]), "metadata": dict(reversed(list(TEMPLATE["metadata"].items())))}
    assert checksum.template_checksum(reordered, CLAIMS) == checksum.template_checksum(TEMPLATE, CLAIMS)


def test_annotations_and_claim_status_do_not_count():
    other = copy.deepcopy(TEMPLATE)
    other["metadata"]["annotations"] = {"a": "2", checksum.ANNOTATION: "old"}
    claims = copy.deepcopy(CLAIMS)
    claims[0]["status"] = {"phase": "Pending"}
    assert checksum.template_checksum(other, claims) == checksum.template_checksum(TEMPLATE, CLAIMS)


def test_every_rendered_change_counts():
    base = checksum.template_checksum(TEMPLATE, CLAIMS)
    env = copy.deepcopy(TEMPLATE)
    env["spec"]["containers"][0]["env"][0]["value"] = "2"
    label = copy.deepcopy(TEMPLATE)
    label["metadata"]["labels"]["team"] = "acid"
    size = copy.deepcopy(CLAIMS)
    size[0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    results = {base, checksum.template_checksum(env, CLAIMS), checksum.template_checksum(label, CLAIMS),
               checksum.template_checksum(TEMPLATE, size), checksum.template_checksum(TEMPLATE, [])}
    assert len(results) == 5


def test_the_input_is_not_modified():
    template = copy.deepcopy(TEMPLATE)
    claims = copy.deepcopy(CLAIMS)
    checksum.template_checksum(template, claims)
    assert template == TEMPLATE and claims == CLAIMS


def test_statefulset_checksum_ignores_replicas_and_annotate():
    sts = statefulset()
    value = checksum.statefulset_checksum(sts)
    assert value == checksum.template_checksum(TEMPLATE, CLAIMS)
    scaled = statefulset()
    scaled["spec"]["replicas"] = 5
    assert checksum.statefulset_checksum(scaled) == value
    annotated = checksum.annotate(sts)
    assert annotated["metadata"]["annotations"][checksum.ANNOTATION] == value
    assert annotated["spec"]["template"]["metadata"]["annotations"] == {"a": "1", checksum.ANNOTATION: value}
    assert checksum.statefulset_checksum(annotated) == value  # annotating does not change it
    assert checksum.ANNOTATION not in sts["metadata"]["annotations"]
