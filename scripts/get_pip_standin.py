"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test creates its sanity/units venvs without pip and then runs a cached get-pip script
(~/.ansible/test/cache/get_pip_<version>.py) from a host this machine cannot reach. This
stand-in does the same job from what is available here: the interpreter's bundled ensurepip,
then pip itself from PyPI at the version ansible-test asked for.
"""
import subprocess
import sys

packages = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
if packages:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           "--disable-pip-version-check"] + packages)
