"""The stand-in for a TripGen Spring Boot service in the sandbox: serves the actuator health
endpoints on <podIP>:8080 and checks its real dependencies the way Spring Boot's health
indicators do -- a PostgreSQL login with the configured password (psycopg) and Redis AUTH+PING
-- so the runbook's health checks and the doctor see DOWN when a dependency is unreachable.

Env contract (docs/ARCHITECTURE.md): SPRING_DATASOURCE_URL/USERNAME/PASSWORD,
SPRING_DATA_REDIS_HOST/PORT/PASSWORD; the kubelet adds TRIPGEN_STANDIN_HOST/PORT/NAME."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CACHE_SECONDS = 1.0
CHECK_TIMEOUT = 2.0


def _log(level: str, logger: str, message: str) -> None:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
    print(f"{ts}  {level:>5} {os.getpid()} --- [main] {logger:<40} : {message}", flush=True)


def check_db(env: dict[str, str]) -> dict:
    url = env.get("SPRING_DATASOURCE_URL")
    if not url:
        return {}
    m = re.match(r"jdbc:postgresql://([^:/]+)(?::(\d+))?/([^?]+)", url)
    if not m:
        return {"status": "DOWN", "details": {"error": f"invalid datasource url {url}"}}
    host, port, db = m.group(1), int(m.group(2) or 5432), m.group(3)
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(host=host, port=port, dbname=db, user=env.get("SPRING_DATASOURCE_USERNAME", "postgres"),
                             password=env.get("SPRING_DATASOURCE_PASSWORD", ""), connect_timeout=CHECK_TIMEOUT) as conn:
            conn.execute("SELECT 1")
        return {"status": "UP", "details": {"database": "PostgreSQL", "validationQuery": "isValid()"}}
    except Exception as exc:  # noqa: BLE001 - any failure is DOWN, as in Spring's indicator
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if env.get("SPRING_DATASOURCE_PASSWORD"):
            text = text.replace(env["SPRING_DATASOURCE_PASSWORD"], "****")
        return {"status": "DOWN", "details": {"error": f"org.springframework.jdbc.CannotGetJdbcConnectionException: Failed to obtain JDBC Connection: {text}"}}


def _resp(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed by Redis")
        data += chunk
    return data


def check_redis(env: dict[str, str]) -> dict:
    host = env.get("SPRING_DATA_REDIS_HOST")
    if not host:
        return {}
    port = int(env.get("SPRING_DATA_REDIS_PORT") or 6379)
    password = env.get("SPRING_DATA_REDIS_PASSWORD")
    try:
        with socket.create_connection((host, port), timeout=CHECK_TIMEOUT) as s:
            if password:
                p = password.encode()
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$" + str(len(p)).encode() + b"\r\n" + p + b"\r\n")
                answer = _resp(s)
                if not answer.startswith(b"+OK"):
                    raise ConnectionError(answer.decode(errors="replace").strip().lstrip("-"))
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            answer = _resp(s)
            if not answer.startswith(b"+PONG"):
                raise ConnectionError(answer.decode(errors="replace").strip().lstrip("-"))
        return {"status": "UP", "details": {"version": "7.2.4"}}
    except Exception as exc:  # noqa: BLE001
        return {"status": "DOWN", "details": {"error": f"org.springframework.data.redis.RedisConnectionFailureException: Unable to connect to Redis; {exc}"}}


class Health:
    """Dependency checks, cached briefly so probes and users do not hammer the databases."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: dict[str, dict] = {}

    def components(self) -> dict[str, dict]:
        with self._lock:
            if time.monotonic() - self._at > CACHE_SECONDS:
                comps = {}
                db = check_db(self.env)
                if db:
                    comps["db"] = db
                redis = check_redis(self.env)
                if redis:
                    comps["redis"] = redis
                comps["diskSpace"] = {"status": "UP", "details": {"total": 128 * 2**30, "free": 100 * 2**30, "threshold": 10485760, "exists": True}}
                comps["ping"] = {"status": "UP"}
                self._value, self._at = comps, time.monotonic()
            return self._value


def make_handler(health: Health, name: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "stand-in"
        sys_version = ""

        def log_message(self, fmt, *args):  # noqa: N802 - keep probe noise out of the logs
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/vnd.spring-boot.actuator.v3+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/actuator/health/liveness":
                return self._send(200, {"status": "UP"})
            if path in ("/actuator/health", "/actuator/health/readiness"):
                comps = dict(health.components())
                down = [k for k, v in comps.items() if v.get("status") != "UP"]
                status = "DOWN" if down else "UP"
                if path.endswith("readiness"):
                    comps = {k: v for k, v in comps.items() if k in ("db", "redis")}
                    comps["readinessState"] = {"status": status}
                    body = {"status": status, "components": comps}
                else:
                    comps["livenessState"] = {"status": "UP"}
                    comps["readinessState"] = {"status": status}
                    body = {"status": status, "components": comps, "groups": ["liveness", "readiness"]}
                return self._send(503 if down else 200, body)
            if path == "/actuator/info":
                return self._send(200, {"app": {"name": name}})
            if path == "/actuator":
                return self._send(200, {"_links": {"health": {"href": "/actuator/health"}}})
            return self._send(404, {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()), "status": 404, "error": "Not Found", "path": path})

        do_HEAD = do_GET

    return Handler


def main() -> int:
    env = dict(os.environ)
    host = env.get("TRIPGEN_STANDIN_HOST", "127.0.0.1")
    port = int(env.get("TRIPGEN_STANDIN_PORT", "8080"))
    name = env.get("TRIPGEN_STANDIN_NAME", "app")
    app = "".join(p.capitalize() for p in name.split("-")) + "Application"
    started = time.monotonic()
    _log("INFO", f"com.tripgen.{app}", f"Starting {app} using Java 21.0.3 with PID {os.getpid()}")
    _log("INFO", f"com.tripgen.{app}", f'The following 1 profile is active: "{env.get("SPRING_PROFILES_ACTIVE", "default")}"')
    server = ThreadingHTTPServer((host, port), make_handler(Health(env), name))
    server.daemon_threads = True

    def shutdown(signum, frame):
        _log("INFO", "o.s.b.w.e.tomcat.GracefulShutdown", "Commencing graceful shutdown. Waiting for active requests to complete")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    _log("INFO", "o.s.b.w.embedded.tomcat.TomcatWebServer", f"Tomcat started on port {port} (http) with context path ''")
    _log("INFO", f"com.tripgen.{app}", f"Started {app} in {time.monotonic() - started:.3f} seconds (process running for {time.monotonic() - started + 0.5:.3f})")
    server.serve_forever(poll_interval=0.2)
    _log("INFO", "o.s.b.w.e.tomcat.GracefulShutdown", "Graceful shutdown complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
