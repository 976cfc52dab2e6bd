"""Server side of the filter builder component (templates/web/filters/_builder.html and
static/web/filter_builder.js): the field catalogue of a target and the operator labels."""

from __future__ import annotations

from django.apps import apps

from drumbeat.automation.domains import OPERATORS_BY_KIND
from drumbeat.automation.targets import MAX_RELATION_DEPTH, Target, model_fields

OPERATOR_LABELS = {
    "=": "is",
    "!=": "is not",
    ">": "is after / greater than",
    ">=": "is on or after / at least",
    "<": "is before / less than",
    "<=": "is on or before / at most",
    "in": "is one of",
    "not_in": "is none of",
    "like": "contains",
    "not_like": "does not contain",
    "ilike": "contains (any case)",
    "not_ilike": "does not contain (any case)",
    "=like": "matches pattern",
    "=ilike": "matches pattern (any case)",
    "any": "has one matching",
    "not_any": "has none matching",
}
OPERATOR_ORDER = list(OPERATOR_LABELS)


def _describe(fields: dict) -> dict:
    result = {}
    for name, info in fields.items():
        result[name] = {
            "label": info.label,
            "kind": info.kind,
            "related": info.related,
            "choices": [[k, v] for k, v in info.choices],
            "operators": [op for op in OPERATOR_ORDER if op in OPERATORS_BY_KIND[info.kind]],
        }
    return result


def field_catalogue(target: Target) -> dict:
    """Every model reachable from the target within the relation depth, with its fields."""
    models = {target.key: _describe(target.fields)}
    frontier = [(target.key, 0)]
    while frontier:
        label, depth = frontier.pop()
        if depth >= MAX_RELATION_DEPTH:
            continue
        for info in model_fields(label).values():
            if info.related and info.related not in models:
                models[info.related] = _describe(model_fields(info.related))
                frontier.append((info.related, depth + 1))
    names = {label: str(apps.get_model(label)._meta.verbose_name).capitalize() for label in models}
    return {
        "root": target.key,
        "maxDepth": MAX_RELATION_DEPTH,
        "models": models,
        "modelNames": names,
        "operatorLabels": OPERATOR_LABELS,
    }
