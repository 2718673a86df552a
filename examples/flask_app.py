"""Minimal Flask service with the toolkit: ``flask --app examples.flask_app run``."""

from flask import Flask, g

from erp_professional import integrate

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name: str) -> dict[str, str]:
    return {"hello": name, "request_id": g.request_id}


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("this message never reaches the client")


professional = integrate(app, service__name="flask-example")
