"""An editor that dies: the client half of tests/e2e/test_lsp_client_death.py, run as its own
process so that the test can SIGKILL it (a crashed editor) or have it close the server's pipe.

It starts ``riskhints serve`` on stdio in a workspace, opens a document big enough for the
server's worker process and a small one, waits for the small one's diagnostics (the server is
then up, indexing, and analysing the big document), prints the server's pid, and then, with
``close``, closes the server's stdin when a line arrives on its own; in either mode it then waits
to be killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


def main(folder: Path, mode: str) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "riskhints", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=folder,
    )
    assert server.stdin is not None and server.stdout is not None
    writer, reader = server.stdin, server.stdout

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        writer.flush()

    def receive() -> dict[str, Any]:
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b"\n"):
            if not line:
                raise SystemExit("the server closed its output")
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        message: dict[str, Any] = json.loads(reader.read(length))
        return message

    uri = folder.as_uri()
    send(
        {
            "id": 1,
            "method": "initialize",
            "params": {
                "processId": os.getpid(),
                "rootUri": uri,
                "capabilities": {},
                "workspaceFolders": [{"uri": uri, "name": folder.name}],
            },
        }
    )
    while receive().get("id") != 1:
        pass
    send({"method": "initialized", "params": {}})
    for name in ("routes.py", "generated_handlers.py"):
        document = {"uri": (folder / name).as_uri(), "languageId": "python", "version": 1}
        document["text"] = (folder / name).read_text(encoding="utf-8")
        send({"method": "textDocument/didOpen", "params": {"textDocument": document}})
    small = (folder / "routes.py").as_uri()
    while True:
        message = receive()
        if "id" in message and "method" in message:  # a request of the server's
            send({"id": message["id"], "result": None})
        elif message.get("method") == "textDocument/publishDiagnostics":
            if message["params"]["uri"] == small:
                break
    sys.stdout.write(f"{server.pid}\n")
    sys.stdout.flush()
    if mode == "close":
        sys.stdin.readline()  # the test says when (once the server's worker is up)
        writer.close()
    threading.Event().wait(timeout=3600)  # until killed (the test kills it well before)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2])
