"""tests/lab/traffic.py, the one client of the e2e tests, `make demo` and the benches, against a small HTTP server
of its own on 127.0.0.1: what it counts as answered, as a deliberate error and as failed."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lab.traffic import Traffic


class Handler(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        Handler.calls += 1
        code, version = (500, "bad") if Handler.calls % 4 == 0 else (200, "good")
        body = json.dumps({"version": version}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_counts_answers_by_version_and_status_and_keeps_a_log(server):
    with Traffic(server, rate=200, workers=2, keep_log=True) as traffic:
        time.sleep(0.5)
    good, bad = traffic.by_version(200).get("good", 0), traffic.error_answers().get("bad", 0)
    assert good > 0 and bad > 0
    assert traffic.by_version() == {"good": good, "bad": bad}
    assert traffic.failed() == bad  # the 500s are failures ...
    assert traffic.failed(except_version="bad") == 0  # ... unless they are the deliberate errors of that version
    assert len(traffic.log) == good + bad and {code for _t, _v, code in traffic.log} == {200, 500}
    assert traffic.snapshot() == ({"good": good}, 0)


def test_a_request_without_an_answer_is_failed_whatever_the_version(server):
    with Traffic("http://127.0.0.1:9/", rate=50, workers=1) as traffic:  # the discard port: nothing listens
        time.sleep(0.2)
    assert traffic.unanswered() > 0 and traffic.failed(except_version="bad") == traffic.unanswered()
    assert traffic.by_version() == {}
