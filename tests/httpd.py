# tests/httpd.py — what the tests' fake HTTP servers share: a handler
# base whose answer(code, body) sends a text answer and which logs
# nothing, and serve(), which listens on a free loopback port and writes
# that port to a file (renamed into place: a reader never sees half of
# it).  A test's server script imports it with sys.path set to tests/.
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    content_type = None  # e.g. "text/plain": sent when set

    def answer(self, code, body):
        self.send_response(code)
        if self.content_type:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


def serve(handler, portfile):
    srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()
