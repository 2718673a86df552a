"""Minimal FastAPI service with the toolkit: ``uvicorn examples.fastapi_app:app``."""

from fastapi import FastAPI, Request

from erp_professional import integrate

app = FastAPI()


@app.get("/hello/{name}")
def hello(name: str, request: Request) -> dict[str, str]:
    return {"hello": name, "request_id": request.state.request_id}


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("this message never reaches the client")


professional = integrate(app, service__name="fastapi-example")
