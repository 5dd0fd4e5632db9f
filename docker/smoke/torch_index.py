"""A package index on 127.0.0.1 for the CPU worker image's build: torch comes from the wheel this
machine's pip installed (PyTorch's own CPU index is not reachable from every build host), every
other project is redirected to PyPI's simple index.

    python docker/smoke/torch_index.py WHEEL PORT_FILE [PORT]

A fixed PORT keeps the index URL, a build argument, the same from run to run, so the worker
image's cached layers stay valid; when it is taken, any free port serves.
"""

import hashlib
import http.server
import sys
from pathlib import Path
from urllib.parse import quote, unquote


PYPI_SIMPLE = "https://pypi.org/simple"


def main() -> None:
    wheel, port_file = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = f'<!DOCTYPE html><html><body><a href="/files/{quote(wheel.name)}#sha256={digest}">{wheel.name}</a></body></html>'

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            parts = [unquote(p) for p in self.path.split("?")[0].split("/") if p]
            if parts[:2] == ["simple", "torch"]:
                self._send(200, page.encode(), "text/html")
            elif parts == ["files", wheel.name]:
                self._send_file()
            elif len(parts) == 2 and parts[0] == "simple":
                self.send_response(302)
                self.send_header("Location", f"{PYPI_SIMPLE}/{parts[1]}/")
                self.end_headers()
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_file(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(wheel.stat().st_size))
            self.end_headers()
            with wheel.open("rb") as f:
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)

        def log_message(self, *args) -> None:
            pass

    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0), Index)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
