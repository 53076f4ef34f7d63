"""Metadata: what objects and fields exist, per service and per tenant, and how record values
are checked and stored. ``from mosaic.metadata import FieldType, tenant_objects, load_create``."""
from mosaic.metadata.definitions import (field_to_definition, validate_field, validate_field_change,
                                         validate_object)
from mosaic.metadata.fields import NAME_RE, SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.indexes import base_json_indexes, ensure_field_index, field_index_name
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.schema_factory import (build_schema, format_datetime, from_json_value,
                                            load_create, load_update, schema_for, to_api_value,
                                            to_json_value)
from mosaic.metadata.store import (METADATA_TABLES, FieldDefinition, MetadataVersion,
                                   ObjectDefinition, add_field, change_field, count_records,
                                   create_object, delete_object, metadata_version, remove_field,
                                   tenant_object, tenant_object_by_path, tenant_objects)
from mosaic.metadata.values import check_value, json_safe

__all__ = [
    "NAME_RE", "SYSTEM_FIELDS", "FieldDef", "FieldType", "ObjectDef", "ObjectRegistry",
    "validate_field", "validate_field_change", "validate_object", "field_to_definition",
    "base_json_indexes", "ensure_field_index", "field_index_name",
    "build_schema", "schema_for", "load_create", "load_update",
    "to_json_value", "from_json_value", "to_api_value", "format_datetime", "check_value",
    "json_safe",
    "METADATA_TABLES", "FieldDefinition", "ObjectDefinition", "MetadataVersion",
    "tenant_objects", "tenant_object", "tenant_object_by_path", "metadata_version",
    "add_field", "change_field", "remove_field", "create_object", "delete_object",
    "count_records",
]
