# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The checksum of what we rendered for the Spilo pods (docs/design/model.md §8, §5).

A pod rolls only when this checksum changes, so it must depend on our rendering alone, never on
what the API server adds. It is the sha256 of the canonical JSON (sorted keys, no whitespace,
UTF-8) of::

    {"format": FORMAT_VERSION, "podTemplate": <spec.template>, "volumeClaimTemplates": [...]}

Left out of the input, because they must not roll pods:

* the pod template's ``metadata.annotations``: a ``podAnnotations`` change is patched onto the
  running pods and is not a rolling update (docs/design/model.md §3); the checksum annotation itself lives there;
* the ``status`` of each volumeClaimTemplate (server-filled).

Bump :data:`FORMAT_VERSION` whenever this input changes shape, so old and new checksums never
compare equal by accident.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

FORMAT_VERSION = 1
ANNOTATION = "pgfleet.io/template-checksum"


def canonical_json(value):
    """Sorted keys, compact separators, UTF-8: the same data always gives the same text.

    The one canonical JSON of the collection: k8s/diff.py's applied checksum uses it too.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum_input(pod_template, volume_claim_templates=None):
    """The dict that is hashed (see the module docstring)."""
    template = copy.deepcopy(pod_template or {})
    metadata = template.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("annotations", None)
    claims = []
    for claim in volume_claim_templates or []:
        claim = copy.deepcopy(claim)
        claim.pop("status", None)
        claims.append(claim)
    return {"format": FORMAT_VERSION, "podTemplate": template, "volumeClaimTemplates": claims}


def template_checksum(pod_template, volume_claim_templates=None):
    """Hex sha256 of a pod template plus volumeClaimTemplates."""
    # surrogatepass: a lone surrogate (never valid UTF-8) hashes instead of crashing; other text is plain UTF-8
    data = canonical_json(checksum_input(pod_template, volume_claim_templates)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def statefulset_checksum(statefulset):
    """:func:`template_checksum` of a StatefulSet's ``spec.template`` and ``spec.volumeClaimTemplates``."""
    spec = (statefulset or {}).get("spec") or {}
    return template_checksum(spec.get("template") or {}, spec.get("volumeClaimTemplates") or [])


def annotate(statefulset, checksum=None):
    """A copy of the StatefulSet with :data:`ANNOTATION` on itself and on its pod template."""
    result = copy.deepcopy(statefulset)
    checksum = checksum or statefulset_checksum(result)
    metadata = result.setdefault("metadata", {})
    metadata["annotations"] = dict(metadata.get("annotations") or {}, **{ANNOTATION: checksum})
    template = result.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    template["annotations"] = dict(template.get("annotations") or {}, **{ANNOTATION: checksum})
    return result
