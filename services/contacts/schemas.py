"""Marshmallow schemas of the contacts service's action payloads (records themselves are
validated by the platform's schema factory, from metadata)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from mosaic.errors import ValidationFailed


class MergeSchema(Schema):
    class Meta:
        unknown = RAISE

    merged_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                             validate=validate.Length(min=1, max=10))
    pick = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


def load(schema: Schema, data) -> dict:
    """``schema.load(data)`` with errors as ValidationFailed naming each field."""
    if not isinstance(data, dict):
        raise ValidationFailed("expected a JSON object", errors={"_schema": ["expected an object"]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        errors = {k: v if isinstance(v, list) else [str(v)] for k, v in exc.normalized_messages().items()}
        raise ValidationFailed("Request is invalid.", errors=errors) from None
