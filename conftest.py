"""Root pytest configuration: make `ansible_collections.pgfleet.postgres` importable from the repo."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_COLLECTIONS = os.path.join(_HERE, ".collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
