"""What a target receives for a record: the full record for the (non-public) provincial
platform; on a public target, personal ID numbers masked and private fields dropped."""

from __future__ import annotations

from typing import Any

from credit_sync.codes import mask_id
from credit_sync.config import Target
from credit_sync.schema import FieldType, Kind, fields, key_fields

DEFAULT_PUBLIC_DROP = ("BZ",)  # free-text remarks may hold anything: never public


def render(payload: dict[str, Any], kind: Kind | str, target: Target, operation: str) -> dict:
    kind = Kind(kind)
    if operation == "withdraw":
        keys = key_fields(kind)
        wanted = (
            keys.decision_number,
            keys.decision_date,
            keys.authority,
            keys.authority_code,
            keys.status,
        )
        return {code: payload.get(code) for code in wanted}
    if not target.public:
        return dict(payload)
    drop = set(target.options.get("drop_fields", DEFAULT_PUBLIC_DROP))
    out: dict[str, Any] = {}
    for f in fields(kind):
        if f.code in drop:
            continue
        value = payload.get(f.code)
        if f.type is FieldType.PERSONAL_ID and value:
            value = mask_id(str(value))
        out[f.code] = value
    return out
