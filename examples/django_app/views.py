from django.http import HttpRequest, JsonResponse


def hello(request: HttpRequest, name: str) -> JsonResponse:
    return JsonResponse({"hello": name, "request_id": request.request_id})  # type: ignore[attr-defined]


def boom(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("this message never reaches the client")
