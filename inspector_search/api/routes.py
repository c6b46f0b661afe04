"""The read routes: search, status, health, photos (metadata, thumbnail, image) and equipment history."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from .. import __version__
from ..core.errors import ImageError, QueryError
from ..core.records import SearchFilter, SearchRequest
from ..json_shapes import history_json, hit_json, photo_json, status_json
from .app import ApiState, needs, state
from .limits import ApiError, check_image

router = APIRouter(prefix="/v1")

READ = needs("read")
ApiDep = Annotated[ApiState, Depends(state)]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every refusal: a 4xx (or 5xx) status with this body."""

    error: ErrorBody


class Label(BaseModel):
    kind: str
    value: str


class Result(BaseModel):
    """One ranked match, the same object as in ``inspector-search search --json``."""

    rank: int
    score: float
    image_id: int
    path: str
    equipment_tag: str | None
    equipment_type: str | None
    site: str | None
    inspected_on: str | None
    inspector: str | None
    notes: str | None
    labels: list[Label]
    inliers: int | None = Field(None, description="keypoints geometric verification matched (photo results)")
    same_object: bool = Field(description="verified as the same object (for equipment: any of its photos)")
    is_query: bool | None = Field(None, description="the archive holds this very query photo")
    match_count: int | None = Field(None, description="with by_equipment: its photos among the matches")


class QueryResults(BaseModel):
    """``query`` is the uploaded file's name (None for a search by text alone)."""

    query: str | None
    text: str | None
    results: list[Result]


class SearchResponse(BaseModel):
    """One entry per uploaded image, in upload order (one entry for a search by text alone)."""

    queries: list[QueryResults]


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in ((400, "bad input, named in the message"), (401, "no valid API token"),
                         (403, "the token's scope does not allow this, or a path outside the allowed folders"),
                         (404, "no such photo, equipment or job"), (413, "request or image too large"),
                         (422, "a parameter is missing or malformed"))}


def _crop(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or text == "":
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ApiError(400, "bad_query", f"crop: expected x0,y0,x1,y1 as fractions 0..1, got {text!r}")
    return values  # type: ignore[return-value]


@router.post("/search", dependencies=[READ], response_model=SearchResponse, responses=ERRORS,
             summary="Archive photos most like each uploaded image")
def search(
    api: ApiDep,
    images: Annotated[list[UploadFile] | None, File(description="query photos (none: search by text alone)")] = None,
    text: Annotated[str | None, Form(description="only photos whose labels, notes, equipment, site or inspector "
                                                 "hold every word (prefixes); without images, ranked by text "
                                                 "relevance")] = None,
    like: Annotated[list[int] | None, Form(description="ids of archive photos to refine the query towards "
                                                       "(repeat the field; without images they are the query)")] = None,
    unlike: Annotated[list[int] | None, Form(description="ids of archive photos to refine the query away from")] = None,
    top_k: Annotated[int, Form(ge=1, description="results per query")] = 10,
    site: Annotated[str | None, Form(description="only photos of this site")] = None,
    equipment: Annotated[str | None, Form(description="only photos of this equipment tag")] = None,
    type: Annotated[str | None, Form(description="only photos of this equipment type")] = None,  # noqa: A002
    area: Annotated[str | None, Form(description="only photos of equipment in this area")] = None,
    inspector: Annotated[str | None, Form(description="only photos from this inspector's inspections")] = None,
    since: Annotated[date | None, Form(description="inspected on or after (YYYY-MM-DD)")] = None,
    until: Annotated[date | None, Form(description="inspected on or before (YYYY-MM-DD)")] = None,
    min_score: Annotated[float, Form(ge=-1.0, le=1.0, description="drop results below this similarity")] = 0.0,
    by_equipment: Annotated[bool, Form(description="rank equipment by their best photo")] = False,
    rotations: Annotated[bool, Form(description="also match the query turned by 90/180/270 degrees")] = False,
    crop: Annotated[str | None, Form(description="search with this region: x0,y0,x1,y1 as fractions")] = None,
    expansion: Annotated[int | None, Form(ge=0, description="query expansion neighbours (0 = off)")] = None,
    verify: Annotated[bool, Form(description="re-rank by geometric verification (false: faster, no "
                                             "same_object)")] = True,
) -> JSONResponse:
    """Ranked matches for each uploaded image, the same objects as ``search --json``; filters apply
    during the search."""
    archive = api.require_archive()
    limits = api.settings
    images = images or []
    text = text if text and text.strip() else None
    like, unlike = tuple(like or ()), tuple(unlike or ())
    if not images and text is None and not like:
        raise ApiError(422, "invalid_request", "images: give one or more query photos, text or like (or several)")
    if len(images) > limits.max_images_per_search:
        raise ApiError(413, "too_many_images", f"{len(images)} images in one search; this server takes at most "
                                               f"{limits.max_images_per_search}")
    if top_k > limits.max_top_k:
        raise ApiError(400, "bad_query", f"top_k {top_k} exceeds this server's limit of {limits.max_top_k}")
    box = _crop(crop)
    flt = archive.resolve_filter(SearchFilter(site=site, equipment_tag=equipment, equipment_type=type,
                                              since=since, until=until, area=area, inspector=inspector))
    queries = []
    for number, upload in enumerate(images or [None], start=1):
        name, data = None, None
        if upload is not None:
            name = upload.filename or f"image {number}"
            data = upload.file.read()
            check_image(data, name, limits.max_image_pixels)
        request = SearchRequest(image=data, top_k=top_k, filter=flt, min_score=min_score, crop=box,
                                rotations=rotations, expansion=expansion, text=text, like=like, unlike=unlike,
                                verification=verify)
        try:
            with api.inference:
                hits = archive.search_by_equipment(request) if by_equipment else archive.search(request)
        except ImageError as exc:
            raise ApiError(400, "bad_image", f"{name}: {exc.reason}") from None
        queries.append({"query": name, "text": text, "results": [hit_json(h) for h in hits]})
    return JSONResponse({"queries": queries})


@router.get("/health", dependencies=[READ], summary="Whether the server is up and its archive open")
def health(api: ApiDep) -> dict[str, Any]:
    """``{"status": "ok"}`` while the server can answer; cheap, for monitoring."""
    return {"status": "ok" if api.archive is not None else "no_archive", "version": __version__}


@router.get("/status", dependencies=[READ], responses=ERRORS,
            summary="Counts, model, index state and skipped files (as `status --json`)")
def status(api: ApiDep) -> JSONResponse:
    """The archive's status, the same object as ``inspector-search status --json``."""
    return JSONResponse(status_json(api.require_archive().status()))


def _photo_or_404(api: ApiState, image_id: int):  # noqa: ANN202
    try:
        return api.require_archive().photo(image_id)
    except QueryError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


PhotoId = Annotated[int, PathParam(ge=1, description="the photo's image_id")]


@router.get("/photos/{image_id}", dependencies=[READ], responses=ERRORS, summary="One photo's metadata")
def photo(api: ApiDep, image_id: PhotoId) -> JSONResponse:
    """Everything the archive knows about one photo."""
    return JSONResponse(photo_json(_photo_or_404(api, image_id)))


@router.get("/photos/{image_id}/thumbnail", dependencies=[READ], responses=ERRORS, response_class=FileResponse,
            summary="A JPEG thumbnail of one photo")
def thumbnail(api: ApiDep, image_id: PhotoId,
              size: Annotated[int, Query(ge=32, le=1024, description="longest side in pixels")] = 256) -> FileResponse:
    """A JPEG at most ``size`` pixels on its longest side (cached in the archive)."""
    archive = api.require_archive()
    _photo_or_404(api, image_id)
    try:
        path = archive.thumbnail(image_id, size)
    except ImageError as exc:
        raise ApiError(410, "image_unreadable", f"photo {image_id}: {exc.reason}") from None
    return FileResponse(path, media_type="image/jpeg")


@router.get("/photos/{image_id}/image", dependencies=[READ], responses=ERRORS, response_class=FileResponse,
            summary="The original photo file")
def image(api: ApiDep, image_id: PhotoId) -> FileResponse:
    """The photo file as it was added: only a file the archive holds, unchanged since it was added."""
    archive = api.require_archive()
    if not hasattr(archive, "photo_file"):  # a shared archive keeps no photo files of its own
        _photo_or_404(api, image_id)
        raise ApiError(501, "not_available", "original files are not served from a shared archive; "
                                             "use /thumbnail, or the photo's path")
    try:
        path = archive.photo_file(image_id)
    except QueryError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except ImageError as exc:
        raise ApiError(410, "image_missing", f"photo {image_id}: {exc.reason} ({exc.path})") from None
    return FileResponse(path, filename=path.name)


@router.get("/equipment/{tag:path}/history", dependencies=[READ], responses=ERRORS,
            summary="An equipment's inspections in date order (as `history --json`)")
def history(api: ApiDep, tag: Annotated[str, PathParam(description="equipment tag")]) -> JSONResponse:
    """The inspections of one equipment with photos and notes, the same object as ``history --json``."""
    try:
        found = api.require_archive().history(tag)
    except QueryError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return JSONResponse(history_json(found))
