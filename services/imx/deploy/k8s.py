"""Kubernetes (Strimzi) manifests of one deployment, derived from the registry and the topology.

Pure: ``render`` turns a ``Plan`` into documents (plain mappings, one file each); the command line
writes them as YAML. Topics come from ``Topology.specs()`` and users from ``principals()``, the
same functions ``imx topics ensure`` and ``imx security apply`` use, so the cluster the Strimzi
operators build holds exactly what those commands would set.

The Strimzi operators own topics (Topic Operator) and users, passwords and ACLs (User Operator);
a provisioning Job then runs ``imx topics ensure`` as ``admin``, which verifies every topic and
publishes the schemas to ``imx.schemas``. ``imx security apply`` is not run in Kubernetes: the
User Operator does its work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from imx.kafka.topology import MAX_MESSAGE_BYTES, TopicSpec, Topology, min_insync_for
from imx.security.principals import (
    ADMIN,
    GATEWAY,
    WORKER,
    AclEntry,
    Operation,
    PatternType,
    Permission,
    Principal,
    ResourceType,
)

Doc = dict[str, Any]

CLUSTER = "imx"
PART_OF = "imx"
STRIMZI = "kafka.strimzi.io/v1beta2"
MONITORING = "monitoring.coreos.com/v1"
#: The internal SASL_SSL listener clients use (Strimzi's bootstrap service, port 9093).
LISTENER_PORT = 9093
BOOTSTRAP_SERVICE = f"{CLUSTER}-kafka-bootstrap"
#: Strimzi keeps the cluster CA's certificate in this secret (key ``ca.crt``).
CA_SECRET = f"{CLUSTER}-cluster-ca-cert"
HOME = "/var/lib/imx"
CA_MOUNT = "/etc/imx/kafka-ca"
WORKER_PORT = 6066
GATEWAY_PORT = 8443
#: Created by the operator of the deployment, never rendered (see docs/operations.md).
PSEUDONYM_SECRET = "imx-pseudonym-key"  # noqa: S105 - the name of a Secret
GATEWAY_TLS_SECRET = "imx-gateway-tls"  # noqa: S105 - the name of a Secret
GATEWAY_TOKENS_SECRET = "imx-gateway-tokens"  # noqa: S105 - the name of a Secret

_RESOURCE: dict[ResourceType, str] = {
    "TOPIC": "topic",
    "GROUP": "group",
    "TRANSACTIONAL_ID": "transactionalId",
}
_PATTERN: dict[PatternType, str] = {"LITERAL": "literal", "PREFIXED": "prefix"}
_OPERATION: dict[Operation, str] = {
    "ALL": "All",
    "READ": "Read",
    "WRITE": "Write",
    "DESCRIBE": "Describe",
    "CREATE": "Create",
    "DELETE": "Delete",
    "ALTER": "Alter",
    "DESCRIBE_CONFIGS": "DescribeConfigs",
    "ALTER_CONFIGS": "AlterConfigs",
    "IDEMPOTENT_WRITE": "IdempotentWrite",
}


@dataclass(frozen=True)
class Plan:
    """What one deployment is: its namespace, names, sizes and image."""

    namespace: str
    topology: Topology
    principals: tuple[Principal, ...]
    rules: Mapping[str, Any]
    image: str
    kafka_version: str
    brokers: int = 3
    controllers: int = 3
    workers: int = 2
    gateways: int = 2
    broker_disk: str = "100Gi"
    worker_disk: str = "10Gi"


def _meta(name: str, plan: Plan, component: str | None = None, **extra: Any) -> Doc:
    labels = {"app.kubernetes.io/part-of": PART_OF}
    if component:
        labels["app.kubernetes.io/name"] = f"imx-{component}"
    labels.update(extra.pop("labels", {}))
    return {"name": name, "namespace": plan.namespace, "labels": labels, **extra}


def _strimzi_meta(name: str, plan: Plan) -> Doc:
    return _meta(name, plan, labels={"strimzi.io/cluster": CLUSTER})


def kafka(plan: Plan) -> list[Doc]:
    """The cluster (KRaft, node pools) and its two pools: controllers and brokers."""
    isr = min_insync_for(plan.topology.replication)
    cluster: Doc = {
        "apiVersion": STRIMZI,
        "kind": "Kafka",
        "metadata": _meta(
            CLUSTER,
            plan,
            annotations={"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"},
        ),
        "spec": {
            "kafka": {
                "version": plan.kafka_version,
                "listeners": [
                    {
                        "name": "tls",
                        "port": LISTENER_PORT,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                        "networkPolicyPeers": [
                            {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}}
                        ],
                    }
                ],
                "authorization": {"type": "simple", "superUsers": [ADMIN]},
                "config": {
                    "default.replication.factor": plan.topology.replication,
                    "min.insync.replicas": isr,
                    "offsets.topic.replication.factor": plan.topology.replication,
                    "transaction.state.log.replication.factor": plan.topology.replication,
                    "transaction.state.log.min.isr": isr,
                    "auto.create.topics.enable": False,
                    "message.max.bytes": MAX_MESSAGE_BYTES,
                    # CONTRACT 10: a revoked password stops open connections within 10 minutes.
                    "connections.max.reauth.ms": 600000,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    pools = [
        _pool(plan, "controllers", ["controller"], plan.controllers, "10Gi"),
        _pool(plan, "brokers", ["broker"], plan.brokers, plan.broker_disk),
    ]
    return [cluster, *pools]


def _pool(plan: Plan, name: str, roles: list[str], replicas: int, size: str) -> Doc:
    return {
        "apiVersion": STRIMZI,
        "kind": "KafkaNodePool",
        "metadata": _strimzi_meta(name, plan),
        "spec": {
            "replicas": replicas,
            "roles": roles,
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": size,
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
        },
    }


def topic_name(topic: str) -> str:
    """A topic's resource name: topic names are lower-case ``[a-z0-9.-]``, valid as they are."""
    return topic


def kafka_topic(spec: TopicSpec, plan: Plan) -> Doc:
    return {
        "apiVersion": STRIMZI,
        "kind": "KafkaTopic",
        "metadata": _strimzi_meta(topic_name(spec.name), plan),
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "replicas": spec.replication,
            "config": dict(spec.config),
        },
    }


def _acls(entries: Iterable[AclEntry]) -> list[Doc]:
    """Strimzi's form: one rule per resource, with the operations granted on it."""
    grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
    for e in sorted(entries):
        key = (_RESOURCE[e.resource_type], _PATTERN[e.pattern], e.name, e.permission, e.host)
        grouped.setdefault(key, []).append(_OPERATION[e.operation])
    return [
        {
            "resource": {"type": kind, "name": name, "patternType": pattern},
            "type": permission.lower(),
            "operations": operations,
            "host": host,
        }
        for (kind, pattern, name, permission, host), operations in grouped.items()
    ]


def kafka_user(principal: Principal, plan: Plan) -> Doc:
    """A SCRAM user; its ACLs are exactly ``principal.acls`` (admin: a super user, none)."""
    spec: Doc = {"authentication": {"type": "scram-sha-512"}}
    if not principal.super_user:
        spec["authorization"] = {
            "type": "simple",
            "acls": _acls(principal.acls),
        }
    meta = _strimzi_meta(principal.name, plan)
    meta["annotations"] = {"imx/used-by": principal.used_by}
    return {"apiVersion": STRIMZI, "kind": "KafkaUser", "metadata": meta, "spec": spec}


def acls_of(user: Mapping[str, Any]) -> set[AclEntry]:
    """The ACLs a rendered ``KafkaUser`` grants, read back as entries (what the tests compare)."""
    resource_types = {v: k for k, v in _RESOURCE.items()}
    permissions: dict[str, Permission] = {"allow": "ALLOW", "deny": "DENY"}
    patterns = {v: k for k, v in _PATTERN.items()}
    operations = {v: k for k, v in _OPERATION.items()}
    name = user["metadata"]["name"]
    out: set[AclEntry] = set()
    for acl in user["spec"].get("authorization", {}).get("acls", []):
        res = acl["resource"]
        for op in acl["operations"]:
            out.add(
                AclEntry(
                    name,
                    resource_types[res["type"]],
                    patterns[res.get("patternType", "literal")],
                    res["name"],
                    operations[op],
                    permissions[acl.get("type", "allow")],
                    acl.get("host", "*"),
                )
            )
    return out


def _kafka_env(plan: Plan, user: str) -> list[Doc]:
    """How a pod reaches the cluster as ``user``: Strimzi's CA and the user's secret."""
    topology = plan.topology
    return [
        {
            "name": "IMX_BOOTSTRAP",
            "value": f"{BOOTSTRAP_SERVICE}.{plan.namespace}.svc:{LISTENER_PORT}",
        },
        {"name": "IMX_SECURITY_PROTOCOL", "value": "SASL_SSL"},
        {"name": "IMX_SASL_USERNAME", "value": user},
        {
            "name": "IMX_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": user, "key": "password"}},
        },
        {"name": "IMX_SSL_CAFILE", "value": f"{CA_MOUNT}/ca.crt"},
        {"name": "IMX_HOME", "value": HOME},
        {"name": "IMX_PARTITIONS", "value": str(topology.partitions)},
        {"name": "IMX_REPLICATION", "value": str(topology.replication)},
        {"name": "IMX_APP_ID", "value": topology.app_id},
    ]


def _ca_volume() -> Doc:
    return {"name": "kafka-ca", "secret": {"secretName": CA_SECRET, "items": [_item("ca.crt")]}}


def _item(key: str, path: str | None = None) -> Doc:
    return {"key": key, "path": path or key}


_SECURITY_CONTEXT: Doc = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
_POD_SECURITY: Doc = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def workers(plan: Plan) -> list[Doc]:
    """The pipeline workers: a StatefulSet, RocksDB on a volume per pod, one standby replica.

    Two workers share the intake and the second holds the core's tables as a standby (faust
    ``table_standby_replicas=1``), so a lost pod's core moves without rebuilding its state.
    """
    labels = {"app.kubernetes.io/name": "imx-worker", "app.kubernetes.io/part-of": PART_OF}
    env = [
        *_kafka_env(plan, WORKER),
        {"name": "IMX_WEB_PORT", "value": str(WORKER_PORT)},
        {
            "name": "IMX_PSEUDONYM_KEY",
            "valueFrom": {"secretKeyRef": {"name": PSEUDONYM_SECRET, "key": "key"}},
        },
    ]
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 10}
    container: Doc = {
        "name": "worker",
        "image": plan.image,
        "args": ["worker", "--web-port", str(WORKER_PORT)],
        "env": env,
        "ports": [{"name": "metrics", "containerPort": WORKER_PORT}],
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": _SECURITY_CONTEXT,
        "volumeMounts": [
            {"name": "state", "mountPath": HOME},
            {"name": "kafka-ca", "mountPath": CA_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the container's own
        ],
    }
    statefulset: Doc = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta("imx-worker", plan, "worker"),
        "spec": {
            "serviceName": "imx-worker",
            "replicas": plan.workers,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": _POD_SECURITY,
                    # faust can hang on shutdown; imx worker stops within its own grace.
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [_ca_volume(), {"name": "tmp", "emptyDir": {}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "state"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": plan.worker_disk}},
                    },
                }
            ],
        },
    }
    headless: Doc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("imx-worker", plan, "worker"),
        "spec": {
            "clusterIP": "None",
            "selector": labels,
            "ports": [{"name": "metrics", "port": WORKER_PORT, "targetPort": "metrics"}],
        },
    }
    return [headless, statefulset]


def gateway(plan: Plan) -> list[Doc]:
    """The HTTP gateway: stateless, so a Deployment behind a Service, HTTPS on 8443."""
    labels = {"app.kubernetes.io/name": "imx-gateway", "app.kubernetes.io/part-of": PART_OF}
    secrets = f"{HOME}/secrets"
    alive = {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    probe = {"httpGet": alive, "periodSeconds": 10}
    container: Doc = {
        "name": "gateway",
        "image": plan.image,
        "args": ["gateway", "--host", "0.0.0.0", "--port", str(GATEWAY_PORT)],  # noqa: S104
        "env": _kafka_env(plan, GATEWAY),
        "ports": [{"name": "https", "containerPort": GATEWAY_PORT}],
        "readinessProbe": {**probe, "httpGet": {**alive, "path": "/readyz"}},
        "livenessProbe": probe,
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": _SECURITY_CONTEXT,
        "volumeMounts": [
            {"name": "gateway-secrets", "mountPath": secrets, "readOnly": True},
            {"name": "kafka-ca", "mountPath": CA_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the container's own
        ],
    }
    # The certificate (tls.crt/tls.key) and the token hashes (issued with `imx gateway token
    # issue` by an operator) appear where the gateway looks for them: $IMX_HOME/secrets/.
    projected = {
        "sources": [
            {
                "secret": {
                    "name": GATEWAY_TLS_SECRET,
                    "items": [
                        _item("tls.crt", "gateway-cert.pem"),
                        _item("tls.key", "gateway-key.pem"),
                    ],
                }
            },
            {
                "secret": {
                    "name": GATEWAY_TOKENS_SECRET,
                    "items": [_item("gateway-tokens.json")],
                }
            },
        ]
    }
    deployment: Doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("imx-gateway", plan, "gateway"),
        "spec": {
            "replicas": plan.gateways,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": _POD_SECURITY,
                    "containers": [container],
                    "volumes": [
                        {"name": "gateway-secrets", "projected": projected},
                        _ca_volume(),
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    service: Doc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("imx-gateway", plan, "gateway"),
        "spec": {
            "selector": labels,
            "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
        },
    }
    return [deployment, service]


def provisioning(plan: Plan) -> list[Doc]:
    """A Job: ``imx topics ensure`` as admin verifies the operator's topics, releases schemas."""
    container: Doc = {
        "name": "topics-ensure",
        "image": plan.image,
        "args": ["topics", "ensure"],
        "env": _kafka_env(plan, ADMIN),
        "securityContext": _SECURITY_CONTEXT,
        "volumeMounts": [
            {"name": "kafka-ca", "mountPath": CA_MOUNT, "readOnly": True},
            {"name": "home", "mountPath": HOME},
        ],
    }
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("imx-provision", plan, "provision"),
            "spec": {
                "backoffLimit": 10,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/part-of": PART_OF}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "securityContext": _POD_SECURITY,
                        "containers": [container],
                        "volumes": [_ca_volume(), {"name": "home", "emptyDir": {}}],
                    },
                },
            },
        }
    ]


def monitoring(plan: Plan) -> list[Doc]:
    """Prometheus Operator kinds: scrape the workers and the gateway, load the imx rules."""
    # The rules and dashboards select job="imx-worker", the job of deploy/prometheus/.
    job = [{"targetLabel": "job", "replacement": "imx-worker", "action": "replace"}]
    return [
        {
            "apiVersion": MONITORING,
            "kind": "PodMonitor",
            "metadata": _meta("imx-worker", plan, "worker"),
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "imx-worker"}},
                "podMetricsEndpoints": [
                    {"port": "metrics", "path": "/metrics", "interval": "15s", "relabelings": job}
                ],
            },
        },
        {
            "apiVersion": MONITORING,
            "kind": "ServiceMonitor",
            "metadata": _meta("imx-gateway", plan, "gateway"),
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "imx-gateway"}},
                "endpoints": [
                    {
                        "port": "https",
                        "path": "/metrics",
                        "scheme": "https",
                        "interval": "15s",
                        "tlsConfig": {
                            "ca": {"secret": {"name": GATEWAY_TLS_SECRET, "key": "ca.crt"}},
                            "serverName": f"imx-gateway.{plan.namespace}.svc",
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": MONITORING,
            "kind": "PrometheusRule",
            "metadata": _meta("imx", plan),
            "spec": {"groups": plan.rules["groups"]},
        },
    ]


def network_policies(plan: Plan) -> list[Doc]:
    """Deny by default; let in only what the exchange needs (Strimzi guards its own pods)."""

    def policy(name: str, selector: Doc, ingress: list[Doc]) -> Doc:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(name, plan),
            "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
        }

    prometheus = {"namespaceSelector": {}, "podSelector": _match("prometheus")}
    return [
        policy("imx-default-deny", {}, []),
        policy(
            "imx-worker",
            _match("imx-worker"),
            [{"from": [prometheus], "ports": [{"port": WORKER_PORT, "protocol": "TCP"}]}],
        ),
        # Unit systems reach the gateway from outside the cluster through the Service.
        policy(
            "imx-gateway",
            _match("imx-gateway"),
            [{"ports": [{"port": GATEWAY_PORT, "protocol": "TCP"}]}],
        ),
    ]


def _match(name: str) -> Doc:
    return {"matchLabels": {"app.kubernetes.io/name": name}}


def render(plan: Plan) -> dict[str, list[Doc]]:
    """Every file of ``deploy/k8s/`` by name, each a list of documents, in apply order."""
    topics = [kafka_topic(spec, plan) for spec in plan.topology.specs()]
    users = [kafka_user(p, plan) for p in plan.principals]
    namespace: Doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": plan.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}},
    }
    files = {
        "00-namespace.yaml": [namespace],
        "10-kafka.yaml": kafka(plan),
        "20-topics.yaml": topics,
        "30-users.yaml": users,
        "40-provision.yaml": provisioning(plan),
        "50-workers.yaml": workers(plan),
        "60-gateway.yaml": gateway(plan),
        "70-monitoring.yaml": monitoring(plan),
        "80-network-policies.yaml": network_policies(plan),
    }
    files["kustomization.yaml"] = [
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(n for n in files if n != "kustomization.yaml"),
        }
    ]
    return files
