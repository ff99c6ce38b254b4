"""From checked reports to the rows the outbox takes: the exact record and its JSON form."""

from __future__ import annotations

import json

from imx.kafka.publisher import Record
from imx.outbox.store import Entry
from imx.schema.checks import CheckedReport
from imx.schema.codec import UnknownSchemaError, decode_report
from imx.schema.jsonform import to_json
from imx.schema.loader import AvroSchema, SchemaSet


def entries(reports: list[CheckedReport], schemas: SchemaSet) -> list[Entry]:
    """The rows for ``reports``: the bytes the publisher sends, and the JSON form of those bytes.

    The JSON form is decoded from the encoded value, so it carries the ``reported_at`` filled
    in at check time, and the gateway (``--gateway``) encodes it back to the same bytes.
    """
    writers = {s.fingerprint_hex: s for s in schemas.written()}

    def lookup(fingerprint: str) -> AvroSchema:
        try:
            return writers[fingerprint]
        except KeyError:
            raise UnknownSchemaError(fingerprint) from None

    out = []
    for checked in reports:
        record = Record.of(checked)
        report = decode_report(record.value, lookup, schemas)
        out.append(
            Entry(
                event_id=checked.event_id,
                type_name=checked.type_name,
                key=record.key,
                value=record.value,
                headers=record.headers,
                json_text=json.dumps(to_json(report, schemas), ensure_ascii=False),
                occurred_at=report["occurred_at"].timestamp(),
            )
        )
    return out
