"""Run the Kubernetes API test double as a process (for molecule and for trying playbooks by hand).

    python -m k8s_double --kubeconfig /tmp/double.kubeconfig [--port 0] [--pidfile F] [--objects F.yaml]

(run from ``tests/``, or with ``tests`` on PYTHONPATH). It prints the URL, writes the kubeconfig,
preloads objects from ``--objects`` (multi-document YAML), and serves until SIGTERM/SIGINT.
There is no authentication; it listens on 127.0.0.1 only.
"""

import argparse
import os
import signal
import sys
import threading

import yaml

from . import KubeDouble


def main(argv=None):
    ap = argparse.ArgumentParser(prog="k8s_double", description="Kubernetes API test double")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--objects", action="append", default=[], help="YAML file(s) of objects to preload")
    ap.add_argument("--pod-start-seconds", type=float, default=0.2)
    ap.add_argument("--no-controllers", action="store_true")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    args = ap.parse_args(argv)

    double = KubeDouble(controllers=not args.no_controllers, pod_start_seconds=args.pod_start_seconds,
                        port=args.port).start()
    for path in args.objects:
        with open(path) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc:
                    double.put_object(doc)
    double.write_kubeconfig(args.kubeconfig)
    if args.pidfile:
        with open(args.pidfile, "w") as fh:
            fh.write(str(os.getpid()))
    print("k8s double listening on %s (kubeconfig %s)" % (double.url, args.kubeconfig), flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if args.log:
        import json

        seen = 0
        with open(args.log, "a") as log:
            while not done.wait(0.5):
                reqs = double.requests_since(seen)
                seen += len(reqs)
                for r in reqs:
                    log.write(json.dumps(dict(r)) + "\n")
                log.flush()
    else:
        done.wait()
    double.stop()
    if args.pidfile and os.path.exists(args.pidfile):
        os.remove(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
