"""The outbound address policy and the pinned connection (agents.net), over real sockets.

DNS rebinding is played by a resolver function (our seam, not a mock of requests) that
answers one address the first time and 127.0.0.1 afterwards. Real HTTP and HTTPS
servers listen on 127.0.0.2 (the "vetted" address, allow-listed) and on 127.0.0.1 (the
address a second resolution would hand out): a request must reach the first only.
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from agents import net

VETTED, EVIL = "127.0.0.2", "127.0.0.1"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT; one cloud's metadata service
        ("100.100.100.200", False),
        ("192.0.0.8", False),  # IETF protocol assignments: is_global says True for some
        ("192.0.0.9", False),
        ("192.0.0.170", False),
        ("198.18.0.1", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::1", False),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 around 10.0.0.1
        ("64:ff9b::808:808", True),
    ],
)
def test_only_globally_routable_addresses_are_public(address, public):
    assert net.is_public(ipaddress.ip_address(address)) is public


def _answers(*addresses):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/",
        "http://192.0.0.8/",
        "http://[::ffff:127.0.0.1]/",
        "http://[2002:7f00:1::1]:80/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://instance-data/latest/",
        "http://METADATA.GOOGLE.INTERNAL./",
        "ftp://8.8.8.8/",
        "file:///etc/passwd",
        "http:///nohost",
        "http://8.8.8.8:99999/",
    ],
)
def test_refused_urls(url):
    with pytest.raises(net.Refused):
        net.vet(url, (), _answers("8.8.8.8"))


def test_every_resolved_address_is_checked():
    with pytest.raises(net.Refused, match=r"127\.0\.0\.1"):
        net.vet("http://mixed.example/", (), _answers("93.184.215.14", "127.0.0.1"))
    target = net.vet("http://fine.example/", (), _answers("93.184.215.14", "2606:2800::1"))
    assert target.addresses == ("93.184.215.14", "2606:2800::1")


def test_an_unresolvable_name_is_its_own_error():
    def nx(host, port):
        raise OSError("no such host")

    with pytest.raises(net.Unresolvable):
        net.vet("http://nx.example/", (), nx)


def test_allow_list_names_ips_and_networks():
    assert net.vet("http://svc.internal:8080/", ["svc.internal"], _answers("10.0.0.5"))
    assert net.vet("http://10.0.0.5/", ["10.0.0.5"])
    assert net.vet("http://h.example/", ["10.0.0.0/8"], _answers("10.9.9.9"))
    with pytest.raises(net.Refused):
        net.vet("http://h.example/", ["10.0.0.0/8"], _answers("10.9.9.9", "127.0.0.1"))
    # An allow-listed range does not open a metadata name by accident.
    with pytest.raises(net.Refused):
        net.vet("http://metadata.google.internal/", ["169.254.0.0/16"], _answers("169.254.1.1"))


# -- pinned connections over real servers -------------------------------------------------


class Server:
    """A real HTTP(S) server on one address; records what reached it."""

    def __init__(self, host: str, port: int = 0, tls: ssl.SSLContext | None = None, routes=None):
        self.requests: list[dict] = []
        self.sni: list[str | None] = []
        routes = routes or {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "host": self.headers.get("Host")})
                status, headers = routes.get(self.path, (200, {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                body = f"hello from {host}".encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pair():
    """The vetted server and the one a rebinding answer would lead to, on one port."""
    vetted = Server(VETTED)
    evil = Server(EVIL, vetted.port)
    yield vetted, evil
    vetted.close()
    evil.close()


def rebinding():
    """Answers the vetted address first, 127.0.0.1 on every later lookup."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return [VETTED] if len(calls) == 1 else [EVIL]

    return resolve, calls


def test_the_connection_goes_to_the_vetted_address_with_the_real_host(pair):
    vetted, evil = pair
    resolve, calls = rebinding()
    resp = net.fetch("GET", f"http://rebind.test:{vetted.port}/x", allow=[VETTED], resolver=resolve)
    assert resp.status_code == 200 and resp.text == f"hello from {VETTED}"
    assert vetted.requests == [{"path": "/x", "host": f"rebind.test:{vetted.port}"}]
    assert evil.requests == []
    assert calls == ["rebind.test"]  # resolved once; the second answer is never asked for


def test_a_rebinding_answer_is_refused_before_any_connection(pair):
    vetted, evil = pair
    resolve, _ = rebinding()
    resolve("warm-up", 80)  # the next answer is 127.0.0.1
    with pytest.raises(net.Refused):
        net.fetch("GET", f"http://rebind.test:{vetted.port}/", allow=[VETTED], resolver=resolve)
    assert vetted.requests == evil.requests == []


def test_every_redirect_hop_is_vetted_and_pinned(pair):
    vetted, evil = pair
    port = vetted.port
    vetted_routes = {
        "/to-evil": (302, {"Location": f"http://second.test:{port}/stolen"}),
        "/to-good": (301, {"Location": "/final"}),
        "/loop": (302, {"Location": "/loop"}),
    }
    good = Server(VETTED, 0, routes=vetted_routes)
    try:

        def resolve(host, port):
            return [VETTED] if host == "first.test" else [EVIL]

        with pytest.raises(net.Refused):
            net.fetch(
                "GET",
                f"http://first.test:{good.port}/to-evil",
                allow=[VETTED],
                resolver=resolve,
                max_redirects=3,
            )
        assert evil.requests == []
        done = net.fetch(
            "GET",
            f"http://first.test:{good.port}/to-good",
            allow=[VETTED],
            resolver=resolve,
            max_redirects=3,
        )
        assert done.status_code == 200
        assert [r["path"] for r in good.requests] == ["/to-evil", "/to-good", "/final"]
        with pytest.raises(net.Refused, match="redirects"):
            net.fetch(
                "GET",
                f"http://first.test:{good.port}/loop",
                allow=[VETTED],
                resolver=resolve,
                max_redirects=2,
            )
    finally:
        good.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for the name pinned.test only (no IP in it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=pinned.test",
            "-addext",
            "subjectAltName=DNS:pinned.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_uses_the_real_name_for_sni_and_certificate_checks(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(VETTED, tls=context)
    try:

        def resolve(host, port):
            return [VETTED]

        url = f"https://pinned.test:{server.port}/secure"
        resp = net.fetch("GET", url, allow=[VETTED], resolver=resolve, verify=str(cert))
        assert resp.status_code == 200
        assert server.sni == ["pinned.test"]
        assert server.requests[0]["host"] == f"pinned.test:{server.port}"
        # A name the certificate does not carry fails verification, though the address
        # is the same: the check is against the name, not the pinned IP.
        with pytest.raises(requests.exceptions.SSLError):
            net.fetch(
                "GET",
                f"https://other.test:{server.port}/",
                allow=[VETTED],
                resolver=resolve,
                verify=str(cert),
            )
    finally:
        server.close()
