# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""What the local target reads: the manifest file (through the collection's safe YAML loader) and
the model built from it, with the Kubernetes path's own functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.spilo import spilo_configuration
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation


def model_from_manifest(cr, operator_config=None, existing_secrets=None):
    """The model (``manifest.build_model``) and its ``SPILO_CONFIGURATION`` dict
    (``spilo.spilo_configuration``) of a ``postgresql`` object: the Kubernetes path's rendering.

    ``operator_config``: anything ``opconfig.load`` accepts (ConfigMap data, a whole ConfigMap,
    typed values, None for the defaults). Raises ``ManifestErrors`` listing every problem, or
    ``RotationError`` for a rotation setting that cannot be used.
    """
    model = build_model(cr, operator_config, existing_secrets=existing_secrets)
    # the rotation policy (config and annotations) is checked now, before anything starts, not at
    # the SQL sync after the cluster is up (raises RotationError naming the field)
    rotation.policy_from(model.get("config"), model.get("spec"), model.get("cr_annotations"))
    conf = spilo_configuration(model)
    if isinstance(conf, str):
        conf = json.loads(conf)
    return model, conf


def load_manifest_file(path):
    """The ``postgresql`` object of a YAML file, read through the collection's safe loader
    (size cap, UTF-8, duplicate keys and alias expansion refused). Raises ``ManifestError``."""
    try:
        from ansible_collections.pgfleet.postgres.plugins.module_utils.model.loader import load_file
    except ImportError:  # pragma: no cover - the safe loader ships with the collection
        load_file = None
    if load_file is not None:
        return load_file(path, what="manifest_file", kind="postgresql")
    import yaml
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (IOError, OSError) as err:
        raise ManifestError("manifest_file", "cannot read %s (%s)" % (path, err.strerror or err),
                            "pass the path of a postgresql manifest") from None
    except UnicodeDecodeError as err:
        raise ManifestError("manifest_file", "%s is not UTF-8 text (byte %d)" % (path, err.start),
                            "save the file as UTF-8") from None
    except yaml.YAMLError as err:
        raise ManifestError("manifest_file", "%s is not valid YAML (%s)" % (path, str(err)[:200]),
                            "fix the YAML") from None
    found = [d for d in docs if isinstance(d, dict) and str(d.get("kind", "")).lower() == "postgresql"]
    if not found and len(docs) == 1 and isinstance(docs[0], dict):
        found = docs
    if not found:
        raise ManifestError("manifest_file", "%s holds no postgresql object" % path,
                            "pass a file with kind: postgresql (acid.zalan.do/v1)")
    return found[0]


def existing_secrets(state):
    """``existing_secrets`` for ``build_model`` from a previous run's state (keeps passwords)."""
    return dict(((state or {}).get("credentials") or {}).get("secrets") or {})
