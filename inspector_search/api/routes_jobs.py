"""The write routes: upload a photo, import a folder the server may read; and the jobs they start."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .app import ApiState, needs, state
from .limits import ApiError, allowed_folder, check_image, links_leaving
from .routes import ERRORS

jobs_router = APIRouter(prefix="/v1")

READ, WRITE = needs("read"), needs("write")
ApiDep = Annotated[ApiState, Depends(state)]
JOB_ID = re.compile(r"[0-9a-f]{16}")
NAME_CHARS = 500  # longest tag, name, type, site, area or inspector an upload may carry
NOTES_CHARS = 100_000  # longest notes (the metadata reader takes cells up to 131,072 characters)


class JobProgress(BaseModel):
    done: int
    total: int
    phase: str


class JobView(BaseModel):
    """A background job. ``state``: queued, running, done, failed, cancelled or interrupted (the server
    stopped before an upload was stored). ``result`` is the ``add --json`` report (uploads add ``image_id``);
    ``runs`` > 1 means the job was resumed after the server stopped."""

    id: str
    kind: str
    state: str
    created: str
    started: str | None
    finished: str | None
    progress: JobProgress
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    runs: int


class ImportRequest(BaseModel):
    folder: str = Field(description="a folder inside one of the server's import folders (absolute, or "
                                    "relative to the first)")
    layout: str | None = Field(None, description='take metadata from folder names, e.g. "{site}/{equipment}/{date}"')
    metadata: str | None = Field(None, description="a metadata CSV inside the import folders")


JOB_ERRORS = ERRORS | {409: ERRORS[400] | {"description": "the job has already finished"},
                       429: ERRORS[400] | {"description": "too many jobs queued or running"}}


def _jobs(api: ApiState):  # noqa: ANN202
    if api.jobs is None:
        raise ApiError(503, "no_archive", "this server has no archive open")
    return api.jobs


def _accepted(job) -> JSONResponse:  # noqa: ANN001
    return JSONResponse(job.public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@jobs_router.post("/photos", dependencies=[WRITE], status_code=202, response_model=JobView, responses=JOB_ERRORS,
                  summary="Upload a photo with its metadata (a background job)")
def upload_photo(
    api: ApiDep,
    image: Annotated[UploadFile, File(description="the photo")],
    equipment_tag: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    equipment_name: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    equipment_type: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    site: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    area: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    inspected_on: Annotated[date | None, Form(description="YYYY-MM-DD")] = None,
    inspector: Annotated[str | None, Form(max_length=NAME_CHARS)] = None,
    notes: Annotated[str | None, Form(max_length=NOTES_CHARS)] = None,
) -> JSONResponse:
    """Stores the photo in the archive's ``uploads/`` folder and adds it in the background; poll
    ``GET /v1/jobs/{id}`` (its result holds the new ``image_id``)."""
    jobs = _jobs(api)
    name = image.filename or "upload"
    data = image.file.read()
    check_image(data, name, api.settings.max_image_pixels)
    metadata = {"equipment_tag": equipment_tag, "equipment_name": equipment_name, "equipment_type": equipment_type,
                "site": site, "area": area, "inspected_on": inspected_on.isoformat() if inspected_on else None,
                "inspector": inspector, "notes": notes}
    return _accepted(jobs.submit_upload(data, name, metadata))


@jobs_router.post("/imports", dependencies=[WRITE], status_code=202, response_model=JobView, responses=JOB_ERRORS,
                  summary="Import a folder the server may read (a background job)")
def import_folder(api: ApiDep, request: ImportRequest) -> JSONResponse:
    """Adds the photos of a folder inside the server's import folders (``serve --import-folder``), as
    ``inspector-search add`` would; nothing outside those folders is read, also not through symlinks."""
    jobs = _jobs(api)
    roots = api.settings.import_folders
    folder = allowed_folder(request.folder, roots)
    if not folder.is_dir():
        raise ApiError(400, "bad_path", f"folder {request.folder!r} is not a folder")
    metadata = None
    if request.metadata is not None:
        metadata = allowed_folder(request.metadata, roots, what="metadata file")
        if not metadata.is_file():
            raise ApiError(400, "bad_path", f"metadata file {request.metadata!r} is not a file")
    leaving = links_leaving(folder, roots)
    if leaving:
        raise ApiError(403, "outside_import_folders", f"{leaving[0]} is a link to outside the import folders "
                                                      f"({len(leaving)} such link(s)); nothing was imported")
    return _accepted(jobs.submit_import(folder, request.layout, metadata))


@jobs_router.get("/jobs", dependencies=[READ], response_model=list[JobView], summary="Recent jobs, newest first")
def list_jobs(api: ApiDep) -> JSONResponse:
    return JSONResponse([j.public() for j in _jobs(api).list()])


JobId = Annotated[str, PathParam(description="the job's id")]


def _job_id(job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise ApiError(404, "not_found", f"no job with id {job_id!r}")
    return job_id


@jobs_router.get("/jobs/{job_id}", dependencies=[READ], response_model=JobView, responses=JOB_ERRORS,
                 summary="A job's state and progress")
def get_job(api: ApiDep, job_id: JobId) -> JSONResponse:
    return JSONResponse(_jobs(api).get(_job_id(job_id)).public())


@jobs_router.delete("/jobs/{job_id}", dependencies=[WRITE], status_code=202, response_model=JobView,
                    responses=JOB_ERRORS, summary="Cancel a job (photos already committed are kept)")
def cancel_job(api: ApiDep, job_id: JobId) -> JSONResponse:
    return JSONResponse(_jobs(api).cancel(_job_id(job_id)).public(), status_code=202)
