"""What a target receives for a record: the full record for the (non-public) provincial
platform; on a public target, personal ID numbers masked and private fields dropped.

The staged payload is JSON text in the staging store. A non-public target's upsert is
that text unchanged: decoding and re-encoding it was a third of the sender's time. Only a
public target (masking) or a withdrawal (a subset of fields) needs the record decoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from credit_sync.codes import mask_id
from credit_sync.config import Target
from credit_sync.schema import FieldType, Kind, fields, key_fields

DEFAULT_PUBLIC_DROP = ("BZ",)  # free-text remarks may hold anything: never public

# Built once: json.dumps with non-default options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class Item(NamedTuple):
    """One record of a batch as its target receives it (a tuple: cheap to make by the
    thousand)."""

    idempotency_key: str
    record_id: str
    operation: str
    data_json: str  # a JSON object: the fields the target receives

    @property
    def data(self) -> dict[str, Any]:
        """The fields decoded, for channels that lay them out themselves (tables, files)."""
        return json.loads(self.data_json)


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


def render_json(payload_json: str, kind: Kind | str, target: Target, operation: str) -> str:
    """`render` on the staged JSON text, giving JSON text; the full record passes through."""
    if operation == "upsert" and not target.public:
        return payload_json
    return _ENCODER.encode(render(json.loads(payload_json), kind, target, operation))


def service_body(batch_id: str, items: Sequence[Item]) -> bytes:
    """The records request body of the platform contract, assembled from the items' JSON
    texts rather than encoded from objects."""
    text = _ENCODER.encode  # on a str: just the quoted, escaped string
    records = ",".join(
        f'{{"idempotency_key":{text(i.idempotency_key)},"record_id":{text(i.record_id)},'
        f'"operation":{text(i.operation)},"data":{i.data_json}}}'
        for i in items
    )
    return f'{{"batch_id":{text(batch_id)},"records":[{records}]}}'.encode()
