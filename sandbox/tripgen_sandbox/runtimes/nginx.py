"""The nginx image for the sandbox: serves the document root (the image's stock index page,
unless a volume mounted at /usr/share/nginx/html brings files) on the pod IP, with nginx's
Server header and its 404 page, an access log line per request on stdout like the image's.
Stdlib only; started by the kubelet as the container's process."""

from __future__ import annotations

import http.server
import os
import signal
import sys
from pathlib import Path

VERSION = "nginx/1.27.0"
INDEX = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
NOT_FOUND = f"""<html>
<head><title>404 Not Found</title></head>
<body>
<center><h1>404 Not Found</h1></center>
<hr><center>{VERSION}</center>
</body>
</html>
"""


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = VERSION
    sys_version = ""

    def send_error(self, code, message=None, explain=None):
        if code != 404:
            return super().send_error(code, message, explain)
        body = NOT_FOUND.encode()
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write(f'{self.client_address[0]} - - [{self.log_date_time_string()}] "{self.requestline}" {args[1] if len(args) > 1 else "-"} - "-" "{self.headers.get("User-Agent", "-")}"\n')
        sys.stdout.flush()


def main() -> int:
    root = Path(os.environ.get("TGSB_NGINX_ROOT", "/usr/share/nginx/html"))
    root.mkdir(parents=True, exist_ok=True)
    if not any(root.iterdir()):
        (root / "index.html").write_text(INDEX)
        (root / "50x.html").write_text("<!DOCTYPE html>\n<html>\n<head>\n<title>Error</title>\n</head>\n<body>\n<h1>An error occurred.</h1>\n</body>\n</html>\n")
    host, port = os.environ.get("TGSB_NGINX_HOST", "0.0.0.0"), int(os.environ.get("TGSB_NGINX_PORT", "80"))
    server = http.server.ThreadingHTTPServer((host, port), lambda *a, **kw: Handler(*a, directory=str(root), **kw))
    signal.signal(signal.SIGQUIT, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    print("/docker-entrypoint.sh: Configuration complete; ready for start up", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
