"""CSV in and out of any object: import jobs (upload, progress, rejected rows) and exports.

``POST /api/v1/<path>/imports?policy=skip|update|create`` takes the CSV as the body
(``text/csv``) or as the multipart field ``file``, and streams it to the object's service: the
header first (checked there), then about 1 MiB of whole records at a time. It answers 202 with
the queued job; ``GET /api/v1/imports/<id>`` follows its progress, ``…/errors.csv`` gives the
rejected rows with ``_row`` and ``_errors`` columns. ``GET /api/v1/<path>/export.csv`` streams
every record matching the list's ``filter``/``sort``/``fields``.

The object segment uses the record API's own ``objpath`` converter, so these rules and
``/<objpath:path>/<record_id>`` share a routing state, where a constant segment beats a variable
one: ``imports`` and ``export.csv`` are never taken for record ids, whatever the order the
blueprints are registered in.
"""
from __future__ import annotations

import csv
import io
import logging

from flask import Blueprint, Response, jsonify, request, url_for

from mosaic import services
from mosaic.errors import BadRequest, MosaicError, NotFound, PayloadTooLarge, ValidationFailed
from mosaic_gateway import auth, redaction
from mosaic_gateway.contract import CSV, PROBLEM, declare, items_of, limit, query
from mosaic_gateway.references import checked_import_records
from mosaic_gateway.responses import IMPORT_JOB
from mosaic_gateway.web import FieldGuard, call, context, directory, fields_arg, filter_arg, int_arg, rpc

log = logging.getLogger(__name__)
bp = Blueprint("imports", __name__, url_prefix="/api/v1")

CHUNK_CHARS = 1 << 20
EXPORT_PAGE = 2000
ERRORS_PAGE = 1000
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel", "application/octet-stream")


class _Capped(io.RawIOBase):
    """A byte stream that refuses to yield more than ``limit`` bytes (chunked uploads carry no
    Content-Length to check up front)."""

    def __init__(self, raw, limit: int):
        self.raw, self.limit, self.seen = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise PayloadTooLarge(f"CSV uploads are limited to {self.limit} bytes")
        buffer[:len(data)] = data
        return len(data)


def _upload() -> tuple[io.TextIOWrapper, str | None]:
    """The uploaded CSV as text (UTF-8, a BOM dropped) and its file name."""
    limit = auth.settings().max_upload
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"CSV uploads are limited to {limit} bytes")
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("send the CSV as the multipart field 'file'", errors={"file": ["missing"]})
        raw, filename = upload.stream, upload.filename
    elif mimetype in CSV_TYPES or not mimetype:
        raw, filename = request.stream, request.args.get("filename")
    else:
        raise BadRequest(f"send the CSV as text/csv or multipart/form-data, not {mimetype}",
                         errors={"content-type": ["text/csv or multipart/form-data"]})
    binary = io.BufferedReader(_Capped(raw, limit), buffer_size=16 * 1024)
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""), (filename or None)


def _records(text: io.TextIOWrapper):
    """Non-blank CSV records; unreadable input becomes a 400 naming the line."""
    reader = csv.reader(text)
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                yield record
    except UnicodeDecodeError:
        raise BadRequest("the CSV is not UTF-8 text", errors={"file": ["not UTF-8"]}) from None
    except csv.Error as exc:
        raise BadRequest(f"the CSV cannot be read at line {reader.line_num}: {exc}",
                         errors={"file": [str(exc)]}) from None


@bp.post("/<objpath:path>/imports")
@declare("Import records from CSV (a job)", tag="records", body=CSV,
         content={"text/csv": CSV, "multipart/form-data": {"type": "object", "required": ["file"], "properties": {
             "file": {"type": "string", "format": "binary"}}}},
         params=[query("policy", "what to do with a row duplicating an existing record",
                       enum=["skip", "update", "create"]), query("filename", "the upload's name")],
         headers={202: {"Location": {"description": "the job", "schema": {"type": "string"}}}},
         responses={202: ("The queued job", IMPORT_JOB), 404: PROBLEM, 422: PROBLEM},
         description="The CSV is the body (text/csv) or the multipart/form-data field 'file'.")
def start_import(path: str):
    """Upload a CSV into ``path``'s records as an import job (202, ``Location`` of the job)."""
    obj = directory().get(context(), path)
    if not services.get(obj["service"]).imports:
        raise NotFound(f"{obj['label']} records cannot be imported")
    guard = FieldGuard(obj)
    text, filename = _upload()
    records = _records(text)
    header = next(records, None)
    if header is None:
        raise ValidationFailed("the CSV is empty", errors={"file": ["no header row"]})
    service = obj["service"]
    job = call(service, "import_start", obj["name"], request.args.get("policy", "skip"), filename,
               [h.strip() for h in header], sorted(guard.hidden | guard.readonly))
    try:
        job = _send_records(service, job["id"], checked_import_records(header, records))
    except BaseException as exc:
        reason = exc.detail if isinstance(exc, MosaicError) else "the upload was interrupted"
        try:
            call(service, "import_abort", job["id"], reason)
        except MosaicError:
            log.warning("could not abort import %s", job["id"], exc_info=True)
        raise
    response = jsonify(job)
    response.status_code = 202
    response.headers["Location"] = url_for("imports.get_import", job_id=job["id"])
    return response


def _send_records(service: str, job_id: str, records) -> dict:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    seq = rows = total = 0
    for record in records:
        writer.writerow(record)
        rows += 1
        if buf.tell() >= CHUNK_CHARS:
            call(service, "import_chunk", job_id, seq, buf.getvalue(), rows)
            seq, total, rows = seq + 1, total + rows, 0
            buf.seek(0)
            buf.truncate()
    if rows:
        call(service, "import_chunk", job_id, seq, buf.getvalue(), rows)
        total += rows
    return call(service, "import_commit", job_id, total)


def _import_services() -> list[str]:
    """The caller's enabled services that host import jobs (``ServiceSpec.imports``)."""
    return [s for s in services.enabled(context().modules) if services.get(s).imports]


def _find(job_id: str) -> tuple[str, dict]:
    """The service holding job ``job_id`` and the job; 404 when none of the caller's has it."""
    for service in _import_services():
        try:
            return service, call(service, "import_status", job_id)
        except NotFound:
            continue
    raise NotFound(f"import {job_id} not found")


@bp.get("/imports")
@declare("Recent import jobs, newest first", tag="imports", params=[limit(50, 200)],
         responses={200: items_of(IMPORT_JOB)})
def list_imports():
    """The caller's recent import jobs (every user's for an admin), newest first."""
    limit = int_arg("limit", 50, 1, 200)
    items = []
    for service in _import_services():
        items += call(service, "list_imports", limit)
    items.sort(key=lambda j: (j["created_at"] or "", j["id"]), reverse=True)
    return jsonify({"items": items[:limit]})


@bp.get("/imports/<job_id>")
@declare("An import job's progress and counts", tag="imports", responses={200: IMPORT_JOB, 404: PROBLEM})
def get_import(job_id: str):
    """A job's progress: ``rows_done`` of ``total_rows``, and its counters."""
    return jsonify(_find(job_id)[1])


def _error_text(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in errors.items())


@bp.get("/imports/<job_id>/errors.csv")
@declare("Rejected rows with _row and _errors columns", tag="imports", produces="text/csv",
         responses={200: CSV, 404: PROBLEM})
def import_errors(job_id: str):
    """The rejected rows as CSV: the original columns, then ``_row`` and ``_errors``."""
    service, job = _find(job_id)
    ctx, pool, clean = context(), rpc(), redaction.import_errors_filter(job["object"])
    page = clean(call(service, "import_errors", job_id, 0, ERRORS_PAGE))
    header = page["header"]

    def generate():
        nonlocal page
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header + ["_row", "_errors"])
        while True:
            for item in page["items"]:
                writer.writerow([item["raw"].get(h, "") for h in header] + [item["row"], _error_text(item["errors"])])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if page["next"] is None:
                return
            page = clean(pool.call(service, "import_errors", ctx, job_id, page["next"], ERRORS_PAGE))

    return _csv_response(generate(), f"import-{job_id}-errors.csv")


@bp.get("/<objpath:path>/export.csv")
@declare("Every record matching the filter, as CSV", tag="records", produces="text/csv",
         params=[query("filter", "filter language, see docs/filters.md"), query("sort", "field, '-' for descending"),
                 query("fields", "comma-separated columns")],
         responses={200: CSV, 404: PROBLEM, 422: PROBLEM})
def export_csv(path: str):
    """Every record of ``path`` matching ``filter``, in ``sort`` order, as CSV (``fields`` picks
    the columns; fields hidden from the caller are left out)."""
    ctx, pool = context(), rpc()
    obj = directory().get(ctx, path)
    guard = FieldGuard(obj)
    flt, sort, fields = filter_arg(), request.args.get("sort") or None, fields_arg()
    guard.check_query(flt, sort, fields)
    columns = fields or [f["name"] for f in obj["fields"] if f["name"] not in guard.hidden]
    service, name = obj["service"], obj["name"]
    # The first page is fetched before answering, so a bad filter is a proper 4xx problem.
    page = call(service, "export_page", name, filter=flt, sort=sort, cursor=None, fields=columns,
                limit=EXPORT_PAGE)

    def generate():
        nonlocal page
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(page["columns"])
        while True:
            writer.writerows(page["rows"])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not page["next_cursor"]:
                return
            try:
                page = pool.call(service, "export_page", ctx, name, filter=flt, sort=sort,
                                 cursor=page["next_cursor"], fields=columns, limit=EXPORT_PAGE)
            except MosaicError:
                # Headers are sent: the status cannot change now. Cut the file short and log it.
                log.exception("export of %s stopped part way", name)
                return

    return _csv_response(generate(), f"{path}.csv")


def _csv_response(body, filename: str) -> Response:
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
