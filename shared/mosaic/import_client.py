"""``mosaic import FILE``: upload a CSV through the gateway's API and follow the job.

The file is streamed (never read whole into memory) to ``POST /api/v1/<object>/imports``, then
``GET /api/v1/imports/<id>`` is polled under a tqdm progress bar of rows done out of the total.
The exit code is 0 when the job finished — rejected rows are an outcome, not a failure, and
``--errors-out`` saves them — and 1 when the upload or the job failed.
"""
from __future__ import annotations

import os
import sys
import time
from typing import IO, Callable

import requests
from tqdm import tqdm

from mosaic.config import Settings

POLL_INTERVAL = 0.5
FINAL = ("finished", "failed")


def auth_header(token: str) -> dict[str, str]:
    """``Authorization`` for a JWT access token (``Bearer``) or an API key (``mk_…`` → ``ApiKey``)."""
    scheme = "ApiKey" if token.startswith("mk_") else "Bearer"
    return {"Authorization": f"{scheme} {token}"}


def _problem(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    text = f"HTTP {response.status_code}: {body.get('detail') or body.get('title')}"
    for field, messages in (body.get("errors") or {}).items():
        text += f"\n  {field}: {'; '.join(map(str, messages)) if isinstance(messages, list) else messages}"
    return text


class _Progress:
    """A read-only file wrapper that moves a tqdm bar as requests reads the body."""

    def __init__(self, fh: IO[bytes], bar: tqdm):
        self.fh, self.bar = fh, bar

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.bar.update(len(data))
        return data

    def __len__(self) -> int:  # lets requests send a Content-Length instead of chunking
        return self.bar.total or 0


def upload(session: requests.Session, base: str, path: str, object_path: str, policy: str,
           show: bool = True) -> dict:
    """Stream the CSV at ``path``; returns the queued job (raises RuntimeError with the problem)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh, tqdm(total=size, unit="B", unit_scale=True, desc="upload",
                                      disable=not show, leave=False) as bar:
        response = session.post(f"{base}/api/v1/{object_path}/imports",
                                params={"policy": policy, "filename": os.path.basename(path)},
                                data=_Progress(fh, bar), headers={"Content-Type": "text/csv"})
    if response.status_code != 202:
        raise RuntimeError(_problem(response))
    return response.json()


def follow(session: requests.Session, base: str, job: dict, *, interval: float = POLL_INTERVAL,
           show: bool = True, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll the job until it is finished or failed, moving a progress bar; returns the last state."""
    url = f"{base}/api/v1/imports/{job['id']}"
    with tqdm(total=job.get("total_rows") or 0, unit="rows", desc="import", disable=not show) as bar:
        while True:
            bar.total = max(job.get("total_rows") or 0, job.get("rows_done") or 0)
            bar.n = job.get("rows_done") or 0
            bar.set_postfix(created=job.get("created", 0), updated=job.get("updated", 0),
                            skipped=job.get("skipped", 0), failed=job.get("failed", 0), refresh=False)
            bar.refresh()
            if job.get("status") in FINAL:
                return job
            sleep(interval)
            response = session.get(url)
            if response.status_code != 200:
                raise RuntimeError(_problem(response))
            job = response.json()


def save_errors(session: requests.Session, base: str, job_id: str, out: str) -> None:
    """Stream the job's rejected rows (CSV) into the file ``out``."""
    with session.get(f"{base}/api/v1/imports/{job_id}/errors.csv", stream=True) as response:
        if response.status_code != 200:
            raise RuntimeError(_problem(response))
        with open(out, "wb") as fh:
            for block in response.iter_content(64 * 1024):
                fh.write(block)


def summary(job: dict) -> str:
    """One line saying how the job ended."""
    counts = (f"{job.get('rows_done', 0)} rows: {job.get('created', 0)} created, {job.get('updated', 0)} updated, "
              f"{job.get('skipped', 0)} skipped, {job.get('failed', 0)} rejected")
    if job.get("status") == "failed":
        return f"import {job['id']} FAILED after {counts}: {job.get('error')}"
    return f"import {job['id']} finished: {counts}"


def run_import(settings: Settings, args, *, out=sys.stdout, err=sys.stderr,
               session: requests.Session | None = None, interval: float = POLL_INTERVAL) -> int:
    """The ``mosaic import`` command (``args`` from :func:`mosaic.cli.build_parser`)."""
    token = args.token or os.environ.get("MOSAIC_TOKEN")
    if not token:
        print("mosaic import: give --token or set MOSAIC_TOKEN (an access token or an API key)", file=err)
        return 1
    if not os.path.isfile(args.file):
        print(f"mosaic import: no such file: {args.file}", file=err)
        return 1
    base = (args.url or f"http://{settings.host}:{settings.port}").rstrip("/")
    show = err.isatty() if hasattr(err, "isatty") else False
    session = session or requests.Session()
    session.headers.update(auth_header(token))
    try:
        job = upload(session, base, args.file, args.object, args.policy, show)
        print(f"import {job['id']} queued: {job.get('total_rows', 0)} rows", file=out)
        job = follow(session, base, job, interval=interval, show=show)
        print(summary(job), file=out)
        if args.errors_out and job.get("failed"):
            save_errors(session, base, job["id"], args.errors_out)
            print(f"rejected rows written to {args.errors_out}", file=out)
    except (RuntimeError, requests.RequestException) as exc:
        print(f"mosaic import: {exc}", file=err)
        return 1
    return 0 if job.get("status") == "finished" else 1
