"""The hostile-input corpus: manifests (as a change to one valid manifest) that must be refused at the door.

Each case: ``(id, change, field)``. ``change`` is ``{"dotted.path": value}`` applied to :data:`BASE`
(``None`` deletes the key); ``field`` is the start of the field one of the errors must name.
Kept as data so the corpus can grow without code: wrong types, bounds, injections into every string
that reaches a file, SQL, a command line or a template, encodings and sizes.
"""

import copy

from ansible_collections.pgfleet.postgres.tests.harness import cluster_manifest

BASE = cluster_manifest("acid-hostile", instances=2, parameters={"work_mem": "4MB"},
                        users={"zalando": ["superuser", "createdb"], "foo_user": []}, databases={"foo": "zalando"})

MB = 1024 * 1024
_VOL = {"emptyDir": {}}

CASES = [
    # counts and numbers
    ("instances-string", {"spec.numberOfInstances": "2"}, "spec.numberOfInstances"),
    ("instances-float", {"spec.numberOfInstances": 2.5}, "spec.numberOfInstances"),
    ("instances-bool", {"spec.numberOfInstances": True}, "spec.numberOfInstances"),
    ("instances-billion", {"spec.numberOfInstances": 1000000000}, "spec.numberOfInstances"),
    ("instances-20-digits", {"spec.numberOfInstances": 12345678901234567890}, "spec.numberOfInstances"),
    ("instances-negative", {"spec.numberOfInstances": -1}, "spec.numberOfInstances"),
    ("instances-missing", {"spec.numberOfInstances": None}, "spec.numberOfInstances"),
    ("pooler-instances-huge", {"spec.connectionPooler": {"numberOfInstances": 10 ** 12}}, "spec.connectionPooler.numberOfInstances"),
    ("pooler-maxdb-int64", {"spec.connectionPooler": {"maxDBConnections": 2 ** 40}}, "spec.connectionPooler.maxDBConnections"),
    ("patroni-ttl-string", {"spec.patroni": {"ttl": "30"}}, "spec.patroni.ttl"),
    ("patroni-ttl-int64", {"spec.patroni": {"ttl": 2 ** 40}}, "spec.patroni.ttl"),
    ("patroni-sync-string", {"spec.patroni": {"synchronous_mode": "yes"}}, "spec.patroni.synchronous_mode"),
    ("run-as-negative", {"spec.spiloRunAsUser": -1}, "spec.spiloRunAsUser"),
    ("fsgroup-int64", {"spec.spiloFSGroup": 2 ** 40}, "spec.spiloFSGroup"),
    ("huge-integer-anywhere", {"spec.volume.iops": 10 ** 30}, "spec.volume.iops"),
    # team, names, namespace
    ("team-number", {"spec.teamId": 123}, "spec.teamId"),
    ("team-1mb", {"spec.teamId": "a" * MB}, "spec.teamId"),
    ("team-newline", {"spec.teamId": "acid\nx"}, "spec.teamId"),
    ("team-list", {"spec.teamId": ["acid"]}, "spec.teamId"),
    ("team-nul", {"spec.teamId": "ac\x00id"}, "spec.teamId"),
    ("name-upper", {"metadata.name": "Acid"}, "metadata.name"),
    ("name-path", {"metadata.name": "../../etc"}, "metadata.name"),
    ("name-long", {"metadata.name": "a" * 300}, "metadata.name"),
    ("name-number", {"metadata.name": 123}, "metadata.name"),
    ("name-missing", {"metadata.name": None}, "metadata.name"),
    ("namespace-path", {"metadata.namespace": "../../etc"}, "metadata.namespace"),
    ("namespace-upper", {"metadata.namespace": "Default"}, "metadata.namespace"),
    ("namespace-long", {"metadata.namespace": "a" * 64}, "metadata.namespace"),
    ("namespace-slash", {"metadata.namespace": "a/b"}, "metadata.namespace"),
    ("namespace-number", {"metadata.namespace": 5}, "metadata.namespace"),
    ("api-version", {"apiVersion": "v2"}, "apiVersion"),
    ("kind-pod", {"kind": "Pod"}, "kind"),
    ("spec-missing", {"spec": None}, "spec"),
    ("spec-string", {"spec": "x"}, "spec"),
    ("metadata-list", {"metadata": ["x"]}, "metadata"),
    # labels and annotations
    ("label-key-bang", {"metadata.labels": {"bad key!": "x"}}, "metadata.labels"),
    ("label-value-bang", {"metadata.labels": {"app": "bad value!"}}, "metadata.labels.app"),
    ("label-value-long", {"metadata.labels": {"app": "x" * 64}}, "metadata.labels.app"),
    ("label-prefix-bad", {"metadata.labels": {"-x/a": "b"}}, "metadata.labels"),
    ("label-value-newline", {"metadata.labels": {"app": "a\nb"}}, "metadata.labels.app"),
    ("annotations-too-big", {"metadata.annotations": {"a": "x" * 200000, "b": "y" * 100000}}, "metadata.annotations"),
    ("annotation-2mb", {"metadata.annotations": {"a": "x" * (2 * MB)}}, "metadata.annotations"),
    ("annotation-key-bang", {"metadata.annotations": {"bad key!": "x"}}, "metadata.annotations"),
    ("annotation-value-map", {"metadata.annotations": {"a": {"b": 1}}}, "metadata.annotations.a"),
    ("pod-annotations-big", {"spec.podAnnotations": {"k": "x" * 200000, "k2": "y" * 100000}}, "spec.podAnnotations"),
    ("service-annotation-key", {"spec.serviceAnnotations": {"bad key!": "x"}}, "spec.serviceAnnotations"),
    ("pod-annotations-list", {"spec.podAnnotations": ["a"]}, "spec.podAnnotations"),
    # users and databases (SQL)
    ("users-string", {"spec.users": "abc"}, "spec.users"),
    ("users-list", {"spec.users": ["a"]}, "spec.users"),
    ("user-upper", {"spec.users": {"Foo": []}}, "spec.users.Foo"),
    ("user-sql", {"spec.users": {"a;drop table x": []}}, "spec.users"),
    ("user-quote", {"spec.users": {'a"b': []}}, "spec.users"),
    ("user-newline", {"spec.users": {"x\ny": []}}, "spec.users"),
    ("user-64-bytes", {"spec.users": {"a" * 64: []}}, "spec.users"),
    ("user-key-1000", {"spec.users": {"a" * 1000: []}}, "spec.users"),
    ("user-flags-string", {"spec.users": {"foo": "superuser"}}, "spec.users.foo"),
    ("user-flag-sql", {"spec.users": {"foo": ["superuser; drop role x"]}}, "spec.users.foo"),
    ("user-flag-unknown", {"spec.users": {"foo": ["root"]}}, "spec.users.foo"),
    ("user-flags-contradict", {"spec.users": {"foo": ["LOGIN", "NOLOGIN"]}}, "spec.users.foo"),
    ("user-flags-many", {"spec.users": {"foo": ["login"] * 30}}, "spec.users.foo"),
    ("users-10001", {"spec.users": dict(("u%d" % i, []) for i in range(10001))}, "spec.users"),
    ("database-sql", {"spec.databases": {"foo; drop database x": "zalando"}}, "spec.databases"),
    ("database-newline", {"spec.databases": {"x\ny": "zalando"}}, "spec.databases"),
    ("database-owner-quote", {"spec.databases": {"foo": 'zal"ando'}}, "spec.databases.foo"),
    ("database-owner-number", {"spec.databases": {"foo": 5}}, "spec.databases.foo"),
    ("databases-list", {"spec.databases": ["foo"]}, "spec.databases"),
    ("databases-2000", {"spec.databases": dict(("d%d" % i, "zalando") for i in range(2000))}, "spec.databases"),
    ("prepared-schema-sql", {"spec.preparedDatabases": {"foo": {"schemas": {"a;b": {}}}}}, "spec.preparedDatabases.foo.schemas"),
    ("prepared-extension-sql", {"spec.preparedDatabases": {"foo": {"extensions": {"pg;x": "public"}}}}, "spec.preparedDatabases.foo.extensions"),
    ("prepared-extension-schema", {"spec.preparedDatabases": {"foo": {"extensions": {"pgcrypto": "pub lic"}}}},
     "spec.preparedDatabases.foo.extensions"),
    ("prepared-default-users-string", {"spec.preparedDatabases": {"foo": {"defaultUsers": "yes"}}}, "spec.preparedDatabases.foo.defaultUsers"),
    ("prepared-secret-namespace", {"spec.preparedDatabases": {"foo": {"secretNamespace": "../etc"}}},
     "spec.preparedDatabases.foo.secretNamespace"),
    ("prepared-name-sql", {"spec.preparedDatabases": {"a'b": {}}}, "spec.preparedDatabases"),
    ("rotation-user-number", {"spec.usersWithSecretRotation": [5]}, "spec.usersWithSecretRotation"),
    # postgresql version and parameters (postgresql.conf)
    ("version-99", {"spec.postgresql.version": "99"}, "spec.postgresql.version"),
    ("version-injection", {"spec.postgresql.version": "15; rm -rf /"}, "spec.postgresql.version"),
    ("parameters-string", {"spec.postgresql.parameters": "work_mem=4MB"}, "spec.postgresql.parameters"),
    ("param-lots", {"spec.postgresql.parameters": {"work_mem": "lots"}}, "spec.postgresql.parameters.work_mem"),
    ("param-negative", {"spec.postgresql.parameters": {"max_connections": "-5"}}, "spec.postgresql.parameters.max_connections"),
    ("param-comment", {"spec.postgresql.parameters": {"work_mem": "4MB # injected"}}, "spec.postgresql.parameters.work_mem"),
    ("param-name-newline", {"spec.postgresql.parameters": {"bad\nname": "1"}}, "spec.postgresql.parameters"),
    ("param-value-newline", {"spec.postgresql.parameters": {"shared_buffers": "128MB\nfsync = off"}},
     "spec.postgresql.parameters.shared_buffers"),
    ("param-enum", {"spec.postgresql.parameters": {"log_statement": "bogus"}}, "spec.postgresql.parameters.log_statement"),
    ("param-typo", {"spec.postgresql.parameters": {"max_conections": "100"}}, "spec.postgresql.parameters.max_conections"),
    ("param-read-only", {"spec.postgresql.parameters": {"block_size": "4096"}}, "spec.postgresql.parameters.block_size"),
    ("param-map", {"spec.postgresql.parameters": {"work_mem": {"a": 1}}}, "spec.postgresql.parameters.work_mem"),
    ("param-unit-case", {"spec.postgresql.parameters": {"work_mem": "4mb"}}, "spec.postgresql.parameters.work_mem"),
    ("param-range-real", {"spec.postgresql.parameters": {"checkpoint_completion_target": "2"}},
     "spec.postgresql.parameters.checkpoint_completion_target"),
    ("param-name-quote", {"spec.postgresql.parameters": {"x' = 1; y": "1"}}, "spec.postgresql.parameters"),
    ("params-2000", {"spec.postgresql.parameters": dict(("x.p%d" % i, "1") for i in range(2000))}, "spec.postgresql.parameters"),
    ("param-pg18-enum", {"spec.postgresql.version": "18", "spec.postgresql.parameters": {"io_method": "bogus"}},
     "spec.postgresql.parameters.io_method"),
    ("param-pg15-unknown-pg18-name", {"spec.postgresql.parameters": {"io_method": "worker"}}, "spec.postgresql.parameters.io_method"),
    # pg_hba and initdb (files and command lines of the server)
    ("hba-newline", {"spec.patroni": {"pg_hba": ["host all all 0.0.0.0/0 md5\nhost all all 0.0.0.0/0 trust"]}}, "spec.patroni.pg_hba[0]"),
    ("hba-trust-world", {"spec.patroni": {"pg_hba": ["host all all 0.0.0.0/0 trust"]}}, "spec.patroni.pg_hba[0]"),
    ("hba-include", {"spec.patroni": {"pg_hba": ["include /etc/passwd"]}}, "spec.patroni.pg_hba[0]"),
    ("hba-file-ref", {"spec.patroni": {"pg_hba": ["host all @/etc/shadow 0.0.0.0/0 md5"]}}, "spec.patroni.pg_hba[0]"),
    ("hba-string", {"spec.patroni": {"pg_hba": "host all all 0.0.0.0/0 md5"}}, "spec.patroni.pg_hba"),
    ("hba-number", {"spec.patroni": {"pg_hba": [42]}}, "spec.patroni.pg_hba"),
    ("hba-type", {"spec.patroni": {"pg_hba": ["hots all all 0.0.0.0/0 md5"]}}, "spec.patroni.pg_hba[0]"),
    ("hba-comment", {"spec.patroni": {"pg_hba": ["host all all 0.0.0.0/0 md5 # x"]}}, "spec.patroni.pg_hba[0]"),
    ("initdb-newline", {"spec.patroni": {"initdb": {"encoding": "UTF8\n--auth=trust"}}}, "spec.patroni.initdb.encoding"),
    ("initdb-option-sql", {"spec.patroni": {"initdb": {"auth; rm": "x"}}}, "spec.patroni.initdb"),
    ("initdb-list", {"spec.patroni": {"initdb": {"encoding": ["a"]}}}, "spec.patroni.initdb.encoding"),
    ("slot-name", {"spec.patroni": {"slots": {"a-b": {"type": "physical"}}}}, "spec.patroni.slots"),
    ("slot-type", {"spec.patroni": {"slots": {"s": {"type": "bogus"}}}}, "spec.patroni.slots.s"),
    # tolerations
    ("toleration-operator", {"spec.tolerations": [{"key": "a", "operator": "Maybe"}]}, "spec.tolerations[0].operator"),
    ("toleration-effect", {"spec.tolerations": [{"key": "a", "operator": "Equal", "value": "b", "effect": "Sometimes"}]},
     "spec.tolerations[0].effect"),
    ("toleration-empty-key", {"spec.tolerations": [{"operator": "Equal", "value": "b"}]}, "spec.tolerations[0]"),
    ("toleration-exists-value", {"spec.tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}, "spec.tolerations[0].value"),
    ("toleration-seconds", {"spec.tolerations": [{"key": "a", "tolerationSeconds": 10, "effect": "NoSchedule"}]},
     "spec.tolerations[0].tolerationSeconds"),
    ("toleration-string", {"spec.tolerations": ["a"]}, "spec.tolerations[0]"),
    ("tolerations-200", {"spec.tolerations": [{"key": "a", "operator": "Exists"}] * 200}, "spec.tolerations"),
    ("toleration-key-bang", {"spec.tolerations": [{"key": "a b!", "operator": "Exists"}]}, "spec.tolerations[0].key"),
    # env and containers (templates, container specs)
    ("env-name-space", {"spec.env": [{"name": "A B", "value": "x"}]}, "spec.env[0].name"),
    ("env-name-equals", {"spec.env": [{"name": "X=Y", "value": "x"}]}, "spec.env[0].name"),
    ("env-no-name", {"spec.env": [{"value": "x"}]}, "spec.env[0].name"),
    ("env-string", {"spec.env": "A=B"}, "spec.env"),
    ("env-value-300k", {"spec.env": [{"name": "A", "value": "x" * 300000}]}, "spec.env[0].value"),
    ("env-value-nul", {"spec.env": [{"name": "A", "value": "a\x00b"}]}, "spec.env[0].value"),
    ("sidecar-name", {"spec.sidecars": [{"name": "Bad_Name", "image": "x"}]}, "spec.sidecars[0].name"),
    ("sidecar-postgres", {"spec.sidecars": [{"name": "postgres", "image": "x"}]}, "spec.sidecars[0].name"),
    ("sidecar-no-image", {"spec.sidecars": [{"name": "s", "image": ""}]}, "spec.sidecars[0].image"),
    ("sidecar-env-name", {"spec.sidecars": [{"name": "s", "image": "x", "env": [{"name": "a b"}]}]}, "spec.sidecars[0].env[0].name"),
    ("init-image-number", {"spec.initContainers": [{"name": "i", "image": 5}]}, "spec.initContainers[0].image"),
    ("sidecars-100", {"spec.sidecars": [{"name": "s%d" % i, "image": "x"} for i in range(100)]}, "spec.sidecars"),
    ("volume-reserved-name", {"spec.additionalVolumes": [{"name": "pgdata", "mountPath": "/x", "volumeSource": _VOL}]},
     "spec.additionalVolumes[0].name"),
    ("volume-no-path", {"spec.additionalVolumes": [{"name": "v", "mountPath": "", "volumeSource": _VOL}]},
     "spec.additionalVolumes[0].mountPath"),
    ("source-range-bad", {"spec.allowedSourceRanges": ["0.0.0.0/33"]}, "spec.allowedSourceRanges[0]"),
    ("source-range-newline", {"spec.allowedSourceRanges": ["10.0.0.0/8\nx"]}, "spec.allowedSourceRanges[0]"),
    # schedules, sizes, windows
    ("window-hours", {"spec.maintenanceWindows": ["Sat:25:00-26:00"]}, "spec.maintenanceWindows[0]"),
    ("window-injection", {"spec.maintenanceWindows": ["Sat:01:00-02:00; rm"]}, "spec.maintenanceWindows[0]"),
    ("schedule-injection", {"spec.logicalBackupSchedule": "* * * * * rm -rf /"}, "spec.logicalBackupSchedule"),
    ("volume-size-injection", {"spec.volume.size": "1Gi; rm"}, "spec.volume.size"),
    ("volume-size-lots", {"spec.volume.size": "lots"}, "spec.volume.size"),
    ("volume-missing", {"spec.volume": None}, "spec.volume"),
    ("cpu-words", {"spec.resources": {"requests": {"cpu": "1 core"}}}, "spec.resources.requests.cpu"),
    ("memory-newline", {"spec.resources": {"limits": {"memory": "1Gi\n"}}}, "spec.resources.limits.memory"),
    # standby, clone, tls (connection strings, S3 paths, secret names)
    ("standby-host-conninfo", {"spec.standby": {"standby_host": "host' sslmode=disable"}}, "spec.standby.standby_host"),
    ("standby-s3-space", {"spec.standby": {"s3_wal_path": "s3://x y"}}, "spec.standby.s3_wal_path"),
    ("standby-port", {"spec.standby": {"standby_host": "h", "standby_port": "99999"}}, "spec.standby.standby_port"),
    ("clone-cluster-path", {"spec.clone": {"cluster": "../x"}}, "spec.clone.cluster"),
    ("clone-timestamp", {"spec.clone": {"cluster": "acid-x", "timestamp": "yesterday"}}, "spec.clone.timestamp"),
    ("clone-uid", {"spec.clone": {"cluster": "a", "uid": "not-a-uuid"}}, "spec.clone.uid"),
    ("clone-s3-newline", {"spec.clone": {"cluster": "a", "s3_wal_path": "s3://b\nc"}}, "spec.clone.s3_wal_path"),
    ("tls-secret-path", {"spec.tls": {"secretName": "../x"}}, "spec.tls.secretName"),
    # pooler
    ("pooler-mode", {"spec.connectionPooler": {"mode": "statement"}}, "spec.connectionPooler.mode"),
    ("pooler-user-postgres", {"spec.connectionPooler": {"user": "postgres"}}, "spec.connectionPooler.user"),
    ("pooler-schema-sql", {"spec.connectionPooler": {"schema": "a;b"}}, "spec.connectionPooler.schema"),
    # misc types
    ("lb-string", {"spec.enableMasterLoadBalancer": "true"}, "spec.enableMasterLoadBalancer"),
    ("image-number", {"spec.dockerImage": 5}, "spec.dockerImage"),
    ("stream-database", {"spec.streams": [{"applicationId": "a", "database": "x-y", "tables": {"s.t": {"eventType": "e"}}}]},
     "spec.streams[0].database"),
]

#: Items Zalando skips (not hostile, only wrong): accepted, the item left out, a warning naming the
#: field and the fix. ``(id, change, field)``.
SKIPPED = [
    ("node-port-80", {"spec.masterNodePort": 80}, "spec.masterNodePort"),
    ("database-dash", {"spec.databases": {"foo-bar": "zalando"}}, "spec.databases.foo-bar"),
    ("volume-pgdata-path", {"spec.additionalVolumes": [{"name": "v", "mountPath": "/home/postgres/pgdata", "volumeSource": _VOL}]},
     "spec.additionalVolumes[0]"),
    ("prepared-schema-dash", {"spec.preparedDatabases": {"app": {"schemas": {"my-schema": {}}}}},
     "spec.preparedDatabases.app.schemas.my-schema"),
]


def manifest(change):
    """A deep copy of :data:`BASE` with ``change`` applied."""
    cr = copy.deepcopy(BASE)
    for path, value in change.items():
        node = cr
        parts = path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return cr


CASES += [
    ("annotation-emoji", {"spec.podAnnotations": {"a": "ok \U0001F600"}}, "spec.podAnnotations.a"),
    ("env-lone-surrogate", {"spec.env": [{"name": "A", "value": "\ud83d"}]}, "spec.env[0].value"),
]
CASES += [
    ("clone-cluster-200k", {"spec.clone": {"cluster": "a" * 200000}}, "spec.clone.cluster"),
    ("volume-class-200k-quoted", {"spec.tls": {"secretName": "A" * 200000}}, "spec.tls.secretName"),
]
