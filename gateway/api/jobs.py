"""Jobs API v1: submit, read, cancel; and the language pairs served."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.langs import pairs
from gateway.api.models import ErrorBody, JobRequest, JobStatus, Languages, Pair
from gateway.errors import GatewayError
from gateway.service import Gateway

router = APIRouter(prefix="/v1", tags=["jobs"])
_bearer = HTTPBearer(auto_error=False, description="an API key from `mtq keys create`")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in (400, 401, 403, 429, *codes)}


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def tenant_of(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(_bearer)]) -> str:
    key = credentials.credentials if credentials is not None else None
    return await gateway_of(request).access.tenant(key)


Tenant = Annotated[str, Depends(tenant_of)]


@router.post("/jobs", status_code=202, response_model=JobStatus,
             responses=_errors(409, 413, 503),
             summary="Submit a job (idempotent on job_id per tenant)")
async def submit_job(job: JobRequest, request: Request,
                     tenant: Tenant) -> JSONResponse:
    raw = job.model_dump(exclude_unset=True)
    row, _ = await gateway_of(request).submit(tenant, raw, "jobs")
    return JSONResponse(JobStatus.of(row).model_dump(mode="json"), status_code=202)


@router.get("/jobs/{job_id}", response_model=JobStatus, responses=_errors(404),
            summary="A job's status, progress and, once finished, its final event")
async def get_job(job_id: str, request: Request,
                  tenant: Tenant) -> JobStatus:
    row = await gateway_of(request).store.get_job(tenant, job_id)
    if row is None or row.api != "jobs":
        raise GatewayError(404, "not_found", f"no job {job_id!r} for this API key's tenant")
    return JobStatus.of(row)


@router.delete("/jobs/{job_id}", status_code=202, response_model=JobStatus,
               responses=_errors(404, 503),
               summary="Cancel a job (a finished job keeps its status)")
async def cancel_job(job_id: str, request: Request,
                     tenant: Tenant) -> JSONResponse:
    gateway = gateway_of(request)
    existing = await gateway.store.get_job(tenant, job_id)
    if existing is None or existing.api != "jobs":
        raise GatewayError(404, "not_found", f"no job {job_id!r} for this API key's tenant")
    row = await gateway.cancel(tenant, job_id)
    assert row is not None
    return JSONResponse(JobStatus.of(row).model_dump(mode="json"), status_code=202)


@router.get("/languages", response_model=Languages, responses=_errors(),
            summary="The language pairs served (MTQ_ROUTES)")
async def languages(request: Request, tenant: Tenant) -> Languages:
    served = pairs(gateway_of(request).routes)
    return Languages(pairs=[Pair(source_lang=s, target_lang=t) for s, t in served])
