"""The branches editor of a split activity in the activity dialog: up to five rows of name
and weight (`branch_1_name`, `branch_1_weight`, …), empty rows ignored."""

from __future__ import annotations

from django import forms

from drumbeat.automation.splits import MAX_BRANCHES, NAME_LENGTH

DEFAULT = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]


def add_branch_fields(form: forms.Form) -> list[tuple[forms.BoundField, forms.BoundField]]:
    """Add the rows' fields to `form`; returns the (name, weight) bound fields of each row."""
    for n in range(1, MAX_BRANCHES + 1):
        form.fields[f"branch_{n}_name"] = forms.CharField(
            required=False,
            max_length=NAME_LENGTH,
            label=f"Branch {n}",
            widget=forms.TextInput(
                attrs={
                    "placeholder": "Holdout" if n == 3 else "",
                    "aria-label": f"Name of branch {n}",
                }
            ),
        )
        form.fields[f"branch_{n}_weight"] = forms.IntegerField(
            required=False,
            min_value=1,
            max_value=1000,
            label=f"Weight of branch {n}",
            widget=forms.NumberInput(attrs={"aria-label": f"Weight of branch {n}"}),
        )
    if not form.is_bound and not form.initial.get("branch_1_name"):
        form.initial.update(branch_initial(DEFAULT))
    return [
        (form[f"branch_{n}_name"], form[f"branch_{n}_weight"]) for n in range(1, MAX_BRANCHES + 1)
    ]


def branch_initial(branches: list[dict]) -> dict:
    initial = {}
    for n, branch in enumerate(branches or [], start=1):
        initial[f"branch_{n}_name"] = branch.get("name", "")
        initial[f"branch_{n}_weight"] = branch.get("weight", "")
    return initial


def collect_branches(form: forms.Form) -> list[dict]:
    """The filled rows as [{"name", "weight"}] (a name without weight weighs 1); the service
    checks the rest (2-5 branches, distinct names)."""
    data = form.cleaned_data
    rows = []
    for n in range(1, MAX_BRANCHES + 1):
        name = (data.get(f"branch_{n}_name") or "").strip()
        if name:
            rows.append({"name": name, "weight": data.get(f"branch_{n}_weight") or 1})
    return rows
