"""Field-level differences of resources between two versions of the specs.

Resources are matched by ``Kind/name``, not by file: moving a resource to another file,
or renaming the file, changes nothing; editing a field shows as that field's path with
the old and new values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

ACTIONS = ("added", "removed", "changed")


class FieldChange(NamedTuple):
    path: str            # "spec.finetune.training.epochs", "metadata.labels.pii"
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


class ResourceChange(NamedTuple):
    ref: str             # "Model/ticket-classifier"
    action: str          # added | removed | changed
    file: str            # where it is defined after the change (before it, when removed)
    fields: tuple[FieldChange, ...] = ()
    valid: bool = True   # false when the new version does not validate: its fields are compared as written

    @property
    def kind(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.ref.split("/", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.ref, "action": self.action, "file": self.file, "valid": self.valid,
                "fields": [f.to_dict() for f in self.fields]}


# "Kind/name" -> (file, normalized document or None when it does not validate, the document as written)
Version = dict[str, tuple[str, dict[str, Any] | None, dict[str, Any]]]


def leaf_changes(old: Any, new: Any, path: str) -> list[FieldChange]:
    """Differing leaves; list items are compared by position, so an appended transform shows alone.

    Unlike the plan's diff, which only needs to name a cause, an audit shows every item a
    list gained or lost (``spec.transforms[3]: null -> {...}``).
    """
    if old == new and type(old) is type(new):  # the common case, compared in C: most of a document is unchanged
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)
                for change in leaf_changes(old.get(key), new.get(key), f"{path}.{key}")]
    if isinstance(old, list) and isinstance(new, list):
        padded = max(len(old), len(new))
        return [change for i in range(padded)
                for change in leaf_changes(old[i] if i < len(old) else None, new[i] if i < len(new) else None, f"{path}[{i}]")]
    return [FieldChange(path, old, new)]


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    """Pure: the leaves that differ between two normalized documents (``metadata`` and ``spec``), secrets redacted
    (an audit's output goes to CI logs and reports: a secret is never copied out of its spec)."""
    changes = [change for part in ("metadata", "spec") for change in leaf_changes(old.get(part), new.get(part), part)]
    if not changes:
        return ()
    from compiler.policy.redaction import redact_changes

    return tuple(FieldChange(*change) for change in redact_changes([tuple(c) for c in changes]))


def diff_versions(old: Version, new: Version) -> list[ResourceChange]:
    """Pure: resources added, removed or changed from ``old`` to ``new``, sorted by reference."""
    changes: list[ResourceChange] = []
    for ref in sorted(old.keys() | new.keys()):
        before, after = old.get(ref), new.get(ref)
        if before is None and after is not None:
            changes.append(ResourceChange(ref, "added", after[0], valid=after[1] is not None))
        elif after is None and before is not None:
            changes.append(ResourceChange(ref, "removed", before[0], valid=before[1] is not None))
        elif before is not None and after is not None:
            both_valid = before[1] is not None and after[1] is not None
            # Normalized when both validate; as written otherwise, so filled-in defaults do not show as changes.
            fields = field_changes(before[1], after[1]) if both_valid else field_changes(before[2], after[2])  # type: ignore[arg-type]
            if fields:
                changes.append(ResourceChange(ref, "changed", after[0], fields, after[1] is not None))
    return changes
