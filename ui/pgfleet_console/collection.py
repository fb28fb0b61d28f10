"""The console's ONE door into the collection's Python code (plugins/module_utils).

Every import of collection code goes through here, so a moved module is a one-line fix: each name
lists the module paths it may live under, newest layout first.
"""

import importlib
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(REPO, ".collections")
if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

_BASE = "ansible_collections.pgfleet.postgres.plugins.module_utils."
_WHERE = {
    "errors": ["errors"],
    "manifest": ["model.manifest", "manifest"],
    "opconfig": ["model.opconfig", "opconfig"],
    "secrets": ["model.secrets", "secrets"],
    "patroni": ["patroni.client", "patroni"],
    "local": ["local.cluster", "localcluster"],
}


def _module(key):
    last = None
    for path in _WHERE[key]:
        try:
            return importlib.import_module(_BASE + path)
        except ImportError as err:  # try the next layout
            last = err
    raise ImportError("pgfleet console: cannot import the collection's %s code (%s); fix ui/pgfleet_console/"
                      "collection.py" % (key, last))


errors = _module("errors")
manifest = _module("manifest")
opconfig = _module("opconfig")
secrets = _module("secrets")
patroni = _module("patroni")
local = _module("local")

ManifestError = errors.ManifestError
ManifestErrors = errors.ManifestErrors
PgfleetError = errors.PgfleetError
PatroniError = errors.PatroniError

build_model = manifest.build_model
load_config = opconfig.load

PatroniClient = patroni.PatroniClient
Switchover = patroni.Switchover
RollingRestart = patroni.RollingRestart

LocalCluster = local.LocalCluster
LocalClusterError = local.LocalClusterError
model_from_manifest = local.model_from_manifest
DEFAULT_STATE_ROOT = local.DEFAULT_STATE_ROOT
