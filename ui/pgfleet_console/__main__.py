"""``pgfleet-console``: the web console of pgfleet.postgres (see docs/console.md).

    ui/pgfleet-console                                  # laptop: ~/.kube/config, loopback, single-user
    ui/pgfleet-console --auth token --kubeconfig F      # multi-user: each person signs in with a token
    ui/pgfleet-console --auth in-cluster --bind 0.0.0.0 # in a pod, as its service account (one user)
    ui/pgfleet-console --no-kubernetes                  # local clusters only
"""

import argparse
import os
import sys

import yaml

from .app import Console, create_app
from .kube import KubeError, Target


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="pgfleet-console", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: loopback only)")
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--auth", choices=["kubeconfig", "token", "in-cluster"], default="kubeconfig",
                    help="kubeconfig: single-user, the kubeconfig's token; token: every person signs in with their "
                         "own bearer token; in-cluster: single-user, the pod's service account")
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    ap.add_argument("--context", help="kubeconfig context (default: the current one)")
    ap.add_argument("--api-server", help="with --auth token: the API server URL, instead of a kubeconfig's "
                                         "(in a pod: https://kubernetes.default.svc)")
    ap.add_argument("--ca-file", help="with --api-server: the CA bundle of the API server")
    ap.add_argument("--namespace", action="append", default=[],
                    help="namespace to list when the caller may not list all (repeatable)")
    ap.add_argument("--no-kubernetes", action="store_true", help="local clusters only")
    ap.add_argument("--no-local", action="store_true", help="no local clusters (the in-cluster image)")
    ap.add_argument("--local-state", action="append", default=[],
                    help="directory of local cluster state dirs, or a state dir (default /var/lib/pgfleet/clusters)")
    ap.add_argument("--operator-config", help="the operator ConfigMap (YAML file) the form validates against")
    ap.add_argument("--read-only", action="store_true", default=os.environ.get("PGFLEET_CONSOLE_READ_ONLY") == "1")
    ap.add_argument("--secure-cookies", action="store_true", help="mark cookies Secure (behind HTTPS)")
    ap.add_argument("--threads", type=int, default=8)
    return ap.parse_args(argv)


def build(args):
    target = None
    if not args.no_kubernetes:
        try:
            if args.api_server:
                if args.auth != "token":
                    sys.exit("pgfleet-console: --api-server goes with --auth token (people sign in with their tokens)")
                target = Target(args.api_server, ca_file=args.ca_file)
            elif args.auth == "in-cluster":
                target = Target.in_cluster()
            else:
                target = Target.from_kubeconfig(args.kubeconfig, args.context, with_token=args.auth == "kubeconfig")
        except (OSError, KubeError, yaml.YAMLError, KeyError) as err:
            sys.exit("pgfleet-console: cannot use the Kubernetes API (%s); pass --kubeconfig, --auth in-cluster or "
                     "--no-kubernetes" % (getattr(err, "message", None) or err))
    config = None
    if args.operator_config:
        with open(args.operator_config) as fh:
            config = yaml.safe_load(fh)
    return Console(target=target, auth=args.auth, read_only=args.read_only, local_roots=args.local_state or None,
                   operator_config=config, namespaces=args.namespace, local_enabled=not args.no_local,
                   secure_cookies=args.secure_cookies)


def main(argv=None):
    args = parse_args(argv)
    console = build(args)
    if args.bind not in ("127.0.0.1", "::1", "localhost") and args.auth == "kubeconfig":
        print("pgfleet-console: warning: single-user mode on %s: everyone who reaches this port acts with the "
              "kubeconfig's identity" % args.bind, file=sys.stderr)
    app = create_app(console)
    from waitress import serve

    mode = "local clusters only" if console.target is None else "auth %s" % args.auth
    print("pgfleet-console on http://%s:%d (%s%s)" % (args.bind, args.port, mode,
                                                      ", read-only" if args.read_only else ""), flush=True)
    serve(app, host=args.bind, port=args.port, threads=args.threads, ident="pgfleet-console")
    return 0


if __name__ == "__main__":
    sys.exit(main())
