"""JSON Schemas for the custom resources the manifests use, written from the operators' published CRDs.

Only the fields we set are described in detail (with the CRDs' types, bounds and enums); each object lists the
fields the CRD has, so a misspelt one fails here where the API server would silently prune it. Strimzi
KafkaTopic `kafka.strimzi.io/v1beta2`; CloudNativePG Cluster and Database `postgresql.cnpg.io/v1`; kustomize's
Component.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _object(properties: Schema, *, required: tuple[str, ...] = (), others: tuple[str, ...] = ()) -> Schema:
    """An object with these described properties, plus `others` the CRD has (any value), and nothing else."""
    return {
        "type": "object",
        "properties": {**{name: {} for name in others}, **properties},
        "required": list(required),
        "additionalProperties": False,
    }


def _resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return _object(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _object(
                {
                    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                required=("name",),
            ),
            "spec": spec,
        },
        required=("apiVersion", "kind", "metadata", "spec"),
    )


_SECRET_REF = _object({"name": {"type": "string", "minLength": 1}}, required=("name",))
_QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9.]+([numkMGTPE]|[KMGTPE]i)?$"}

KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaTopic",
    _object(
        {
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": {
                "type": "object",
                "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
            },
            "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
        }
    ),
)

_ROLE = _object(
    {
        "name": {"type": "string", "minLength": 1},
        "ensure": {"enum": ["present", "absent"]},
        "login": {"type": "boolean"},
        "passwordSecret": _SECRET_REF,
    },
    required=("name",),
    others=(
        "bypassrls", "comment", "connectionLimit", "createdb", "createrole", "disablePassword", "inRoles",
        "inherit", "replication", "superuser", "validUntil",
    ),
)  # fmt: skip

CNPG_CLUSTER = _resource(
    "postgresql.cnpg.io/v1",
    "Cluster",
    _object(
        {
            "instances": {"type": "integer", "minimum": 1},
            "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
            "storage": _object(
                {"size": _QUANTITY}, others=("pvcTemplate", "resizeInUseVolumes", "storageClass")
            ),
            "resources": _object(
                {
                    "requests": {"type": "object", "additionalProperties": _QUANTITY},
                    "limits": {"type": "object", "additionalProperties": _QUANTITY},
                },
                others=("claims",),
            ),
            "postgresql": _object(
                {"parameters": {"type": "object", "additionalProperties": {"type": "string"}}},
                others=(
                    "extensions", "ldap", "pg_hba", "pg_ident", "promotionTimeout", "shared_preload_libraries",
                    "syncReplicaElectionConstraint", "synchronous",
                ),
            ),
            "managed": _object({"roles": {"type": "array", "items": _ROLE}}, others=("services",)),
        },
        required=("instances",),
        others=(
            "affinity", "backup", "bootstrap", "certificates", "description", "enablePDB", "enableSuperuserAccess",
            "env", "envFrom", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit", "externalClusters",
            "failoverDelay", "imageCatalogRef", "imageName", "imagePullPolicy", "imagePullSecrets",
            "inheritedMetadata", "logLevel", "maxSyncReplicas", "minSyncReplicas", "monitoring",
            "nodeMaintenanceWindow", "plugins", "postgresGID", "postgresUID", "primaryUpdateMethod",
            "priorityClassName", "probes", "projectedVolumeTemplate",
            "replica", "replicationSlots", "schedulerName", "seccompProfile", "serviceAccountTemplate",
            "smartShutdownTimeout", "startDelay", "stopDelay", "superuserSecret", "switchoverDelay",
            "tablespaces", "topologySpreadConstraints", "walStorage",
        ),
    ),
)  # fmt: skip

CNPG_DATABASE = _resource(
    "postgresql.cnpg.io/v1",
    "Database",
    _object(
        {
            "name": {"type": "string", "not": {"enum": ["postgres", "template0", "template1"]}},
            "owner": {"type": "string", "minLength": 1},
            "cluster": _object({"name": {"type": "string", "minLength": 1}}, required=("name",)),
            "ensure": {"enum": ["present", "absent"]},
        },
        required=("name", "owner", "cluster"),
        others=(
            "allowConnections", "builtinLocale", "collationVersion", "connectionLimit", "databaseReclaimPolicy",
            "encoding", "extensions", "fdws", "icuLocale", "icuRules", "isTemplate", "locale", "localeCType",
            "localeCollate", "localeProvider", "schemas", "servers", "tablespace", "template",
        ),
    ),
)  # fmt: skip

SCHEMAS: dict[tuple[str, str], Schema] = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC,
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
    ("postgresql.cnpg.io/v1", "Database"): CNPG_DATABASE,
}

_JSON6902 = {
    "type": "array",
    "minItems": 1,
    "items": _object(
        {"op": {"enum": ["add", "replace", "remove"]}, "path": {"type": "string", "pattern": "^/"}, "value": {}},
        required=("op", "path"),
    ),
}
_PATCH = _object(
    {"target": _object({"kind": {"type": "string"}, "name": {"type": "string"}}), "patch": {"type": "string"}},
    required=("target", "patch"),
)
KUSTOMIZATION = _object(
    {
        "apiVersion": {"enum": ["kustomize.config.k8s.io/v1beta1", "kustomize.config.k8s.io/v1alpha1"]},
        "kind": {"enum": ["Kustomization", "Component"]},
        "namespace": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "components": {"type": "array", "items": {"type": "string"}},
        "patches": {"type": "array", "items": _PATCH},
        "images": {
            "type": "array",
            "items": _object(
                {"name": {"type": "string"}, "newName": {"type": "string"}, "newTag": {"type": "string"}},
                required=("name",),
                others=("digest",),
            ),
        },
    },
    required=("apiVersion", "kind"),
)
"""What a kustomization may hold here (deploy/kustomize.py refuses the rest); inline patches are JSON 6902."""
PATCH_OPERATIONS = _JSON6902
