"""The console's ONE door into the collection's Python code (plugins/module_utils).

Every import of collection code goes through here, so a moved module is a one-line fix: each name
lists the modules (under plugins/module_utils) it may live in, newest layout first.
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
    "ManifestError": ["errors"],
    "ManifestErrors": ["errors"],
    "PgfleetError": ["errors"],
    "PatroniError": ["errors"],
    "build_model": ["model.manifest", "manifest"],
    "load_config": ["model.opconfig:load", "opconfig:load"],
    "PatroniClient": ["patroni.client", "patroni"],
    "Switchover": ["patroni.operations", "patroni.client", "patroni"],
    "RollingRestart": ["patroni.operations", "patroni.client", "patroni"],
    "LocalCluster": ["local.cluster", "localcluster"],
    "LocalClusterError": ["local.cluster", "localcluster"],
    "model_from_manifest": ["local.cluster", "localcluster"],
    "DEFAULT_STATE_ROOT": ["local.cluster", "local.layout", "localcluster"],
}


def _find(name):
    problems = []
    for where in _WHERE[name]:
        module, _sep, attr = where.partition(":")
        try:
            mod = importlib.import_module(_BASE + module)
        except ImportError as err:
            problems.append("%s: %s" % (module, err))
            continue
        if hasattr(mod, attr or name):
            return getattr(mod, attr or name)
        problems.append("%s has no %s" % (module, attr or name))
    raise ImportError("pgfleet console: cannot find the collection's %s (%s); fix ui/pgfleet_console/collection.py"
                      % (name, "; ".join(problems)))


ManifestError = _find("ManifestError")
ManifestErrors = _find("ManifestErrors")
PgfleetError = _find("PgfleetError")
PatroniError = _find("PatroniError")
build_model = _find("build_model")
load_config = _find("load_config")
PatroniClient = _find("PatroniClient")
Switchover = _find("Switchover")
RollingRestart = _find("RollingRestart")
LocalCluster = _find("LocalCluster")
LocalClusterError = _find("LocalClusterError")
model_from_manifest = _find("model_from_manifest")
DEFAULT_STATE_ROOT = _find("DEFAULT_STATE_ROOT")
