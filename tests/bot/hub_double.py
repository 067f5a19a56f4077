"""A loopback stand-in for the Hugging Face hub's model API, answering the way the hub does."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLIC, GATED, PRIVATE = "public", "gated", "private"
INVALID_TOKEN = "Invalid credentials in Authorization header"


@dataclass
class Repo:
    access: str = PUBLIC
    files: tuple[str, ...] = ("pytorch_lora_weights.safetensors",)


@dataclass
class HubDouble:
    """`repos`: what exists; `tokens`: each valid token and the gated/private repos it may read.

    Answers only what `doctor` asks: `GET /api/models/{repo}` (the model info) and `GET
    /api/models/{repo}/auth-check`. Refusals carry the `X-Error-Code` and `X-Error-Message`
    headers that huggingface_hub's `hf_raise_for_status` turns into GatedRepoError,
    RepositoryNotFoundError or a plain HfHubHTTPError, with the hub's status codes: 401 without
    a token, 403 or 404 with one.
    """

    repos: dict[str, Repo] = field(default_factory=dict)
    tokens: dict[str, set[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, token)

    def __enter__(self) -> HubDouble:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub._answer(self)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def asked_about(self, repo: str) -> bool:
        return any(path.startswith(f"/api/models/{repo}") for path, _ in self.requests)

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ").strip() or None
        self.requests.append((path, token))
        if token is not None and token not in self.tokens:
            return _send(request, 401, {"error": INVALID_TOKEN}, message=INVALID_TOKEN)
        parts = path.removeprefix("/api/models/").split("/")
        if not path.startswith("/api/models/") or len(parts) not in (2, 3):
            return _send(request, 404, {"error": "Not Found"})
        repo_id, auth_check = "/".join(parts[:2]), parts[2:] == ["auth-check"]
        repo = self.repos.get(repo_id)
        readable = token is not None and repo_id in self.tokens[token]
        if repo is None or (repo.access == PRIVATE and not readable):
            # The hub hides private repositories: 401 to anonymous callers, else 404.
            status = 401 if token is None else 404
            return _send(
                request,
                status,
                {"error": "Repository not found"},
                code="RepoNotFound",
                message="Repository not found",
            )
        if auth_check and repo.access == GATED and not readable:
            # The hub's own wording: anonymous callers get 401, a token without access 403.
            restricted = f"Access to model {repo_id} is restricted"
            if token is None:
                status = 401
                message = (
                    f"{restricted}. You must have access to it and be authenticated to access it."
                )
            else:
                status = 403
                message = f"{restricted} and you are not in the authorized list."
            return _send(request, status, {"error": message}, code="GatedRepo", message=message)
        if auth_check:
            return _send(request, 200, {})
        return _send(
            request,
            200,
            {
                "_id": "0" * 24,
                "id": repo_id,
                "modelId": repo_id,
                "sha": "0" * 40,
                "private": repo.access == PRIVATE,
                # Gated repositories describe themselves to anyone; their files are what is gated.
                "gated": "manual" if repo.access == GATED else False,
                "siblings": [{"rfilename": name} for name in repo.files],
            },
        )


def _send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: dict,
    *,
    code: str | None = None,
    message: str | None = None,
) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    if code:
        request.send_header("X-Error-Code", code)
    if message:
        request.send_header("X-Error-Message", message)
    request.end_headers()
    request.wfile.write(data)
