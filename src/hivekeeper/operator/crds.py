"""CustomResourceDefinitions generated from the pydantic models in ``resources.py``.

Pydantic emits JSON Schema (``$ref``, ``anyOf [X, null]``, ``additionalProperties: false``);
Kubernetes wants a *structural* OpenAPI v3 schema (everything inlined, a ``type`` on every node,
no ``additionalProperties`` next to ``properties``, int-or-string spelled its own way). ``structural``
does that translation; everything else here is CRD boilerplate.
"""

from __future__ import annotations

from typing import Any

from hivekeeper.operator.resources import GROUP, KINDS, MAX_NAME, NAME_PATTERN, VERSION, Kind

# Keys of pydantic's output that a structural schema either forbids or does not need.
_DROPPED = {"title", "additionalProperties", "$defs"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Translate one pydantic JSON Schema node (and its children) into a structural schema node."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {len(options)} types structurally: {schema}")
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        if rest.get("default", ...) is None:  # Optional[X] = None: simply absent
            del rest["default"]
        return structural({**options[0], **rest}, defs)

    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            node["properties"] = {name: structural(child, defs) for name, child in value.items()}
        elif key == "items":
            node["items"] = structural(value, defs)
        elif key == "default":
            node["default"] = _prune_nulls(value)
        else:
            node[key] = value
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):  # dict[str, X]
        node["additionalProperties"] = structural(additional, defs)
    elif additional is True and "properties" not in schema:  # dict[str, Any]
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        node["type"] = "object"
    return node


def _prune_nulls(value: Any) -> Any:
    # A default like {"cpu": None} means "nothing set"; Kubernetes would store the nulls literally.
    if isinstance(value, dict):
        return {key: _prune_nulls(item) for key, item in value.items() if item is not None}
    return value


def openapi_schema(kind: Kind) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one kind's CRD."""
    spec = structural(kind.spec.model_json_schema(by_alias=True, mode="validation"))
    status = structural(kind.status.model_json_schema(by_alias=True, mode="serialization"))
    spec.pop("description", None)
    status.pop("description", None)
    return {
        "type": "object",
        "description": f"{kind.kind}: {(kind.spec.__doc__ or kind.kind).strip().splitlines()[0]}",
        "required": ["spec"],
        # Children are named <name>-egress etc. and Services need DNS-1035 labels: refuse names
        # the operator could not build on, before they are stored.
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.matches('{NAME_PATTERN}') && size(self.metadata.name) <= {MAX_NAME}",
                "message": f"metadata.name must be a lowercase DNS label starting with a letter, at most {MAX_NAME} "
                "characters",
            }
        ],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd(kind: Kind) -> dict[str, Any]:
    columns = [
        {"name": name, "type": column_type, "jsonPath": path} for name, column_type, path in kind.printer_columns
    ]
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "hivekeeper"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["hivekeeper", "mcp"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(kind) for kind in KINDS.values()]


__all__ = ["all_crds", "crd", "openapi_schema", "structural"]
