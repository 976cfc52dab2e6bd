"""Server-side request forgery: webhook URLs may not reach inside addresses (lib/netguard.py).

The rules are checked on URLs (save time) and on real requests through the guarded client
(call time) to real HTTP servers on loopback addresses, which only the allow-list opens.
No test sends anything beyond this machine's loopback range.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from drumbeat.lib import netguard

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
    ("http://127.0.0.1:6379/", "127.0.0.1 is loopback"),
    ("http://127.8.9.10/", "127.8.9.10 is loopback"),
    ("http://[::1]:8000/", "::1 is loopback"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is loopback (embeds 127.0.0.1)"),
    ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is link-local (embeds"),
    ("http://[2002:7f00:1::]/", "is loopback (embeds 127.0.0.1)"),
    ("http://0x7f.1/", "127.0.0.1 is loopback"),
    ("http://2130706433/", "127.0.0.1 is loopback"),
    ("http://127.1/", "127.0.0.1 is loopback"),
    ("http://0177.0.0.1/", "not a valid URL"),  # httpx itself refuses the octal form
    ("http://1.2.3.4.5/", "1.2.3.4.5 is not a valid IPv4 address"),
    ("http://localhost/", "localhost is loopback"),
    ("http://localhost./", "localhost. is loopback"),
    ("http://LocalHost:9000/", "localhost is loopback"),
    ("http://api.localhost/", "api.localhost is loopback"),
    ("http://10.1.2.3/", "10.1.2.3 is private"),
    ("http://172.16.0.1/", "172.16.0.1 is private"),
    ("http://192.168.1.1/", "192.168.1.1 is private"),
    ("http://100.64.0.1/", "100.64.0.1 is private"),
    ("http://[fc00::1]/", "fc00::1 is private"),
    ("http://[fd12:3456::1]/", "fd12:3456::1 is private"),
    ("http://[fe80::1]/", "fe80::1 is link-local"),
    ("http://224.0.0.1/", "224.0.0.1 is multicast"),
    ("http://[ff02::1]/", "ff02::1 is multicast"),
    ("http://240.0.0.1/", "240.0.0.1 is reserved"),
    ("http://0.0.0.0/", "0.0.0.0 is unspecified"),
    ("http://0.1.2.3/", "0.1.2.3 is unspecified"),
    ("http://[::]/", ":: is unspecified"),
    ("http://192.0.2.10/", "192.0.2.10 is not a public address"),
    ("ftp://hooks.example.org/", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:6379/", "only http:// and https://"),
]
ALLOWED = [
    "https://hooks.example.org/in",
    "http://hooks.example.org:8080/in?x=1",
    "http://93.184.215.14/",
    "http://[2606:4700:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_inside_addresses_are_refused_when_saved(settings, url, reason):
    settings.WEBHOOK_ALLOW = []
    with pytest.raises(netguard.AddressRefused) as refused:
        netguard.check_url(url)
    assert reason in str(refused.value)


@pytest.mark.parametrize("url", ALLOWED)
def test_public_urls_are_accepted(settings, url):
    settings.WEBHOOK_ALLOW = []
    netguard.check_url(url)


def test_the_reason_names_the_address_and_its_kind(settings):
    settings.WEBHOOK_ALLOW = []
    with pytest.raises(netguard.AddressRefused) as refused:
        netguard.check_url("http://127.0.0.1:6379/")
    assert str(refused.value) == "address not allowed: 127.0.0.1 is loopback"


def test_the_allow_list_opens_named_hosts_and_networks(settings):
    settings.WEBHOOK_ALLOW = ["hooks.internal", "10.0.5.0/24", "127.0.0.1", "localhost"]
    for url in ("http://hooks.internal/", "http://10.0.5.7/", "http://127.0.0.1:6379/"):
        netguard.check_url(url)
    netguard.check_url("http://localhost.:8000/")  # the same name, with its trailing dot
    for url in ("http://10.0.6.1/", "http://127.0.0.2/", "http://169.254.169.254/"):
        with pytest.raises(netguard.AddressRefused):
            netguard.check_url(url)


def test_an_allow_list_entry_is_a_host_name_or_a_network():
    parsed = netguard.parse_allow([" Hooks.Internal. ", "10.0.5.0/24", "::1", ""])
    assert parsed.names == {"hooks.internal"}
    assert [str(n) for n in parsed.networks] == ["10.0.5.0/24", "::1/128"]
    for bad in ("http://hooks.internal/", "10.0.5.0/33", "a b", "-x.org", "hooks.internal:80"):
        with pytest.raises(ValueError, match="is neither a host name nor a CIDR network"):
            netguard.parse_allow([bad])


def test_a_good_allow_list_passes_the_system_checks(settings):
    from drumbeat.checks import check_environment

    settings.WEBHOOK_ALLOW = ["hooks.internal", "10.0.5.0/24", "127.0.0.1", "fd00::/8"]
    assert [e.msg for e in check_environment(None) if "WEBHOOK_ALLOW" in e.msg] == []


# --- call time: real requests through the guarded client ---------------------------------------


class Server:
    """A real HTTP server on a loopback address; answers `status` (and `location`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[dict] = []
        self.status, self.location = 200, ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"path": self.path, "host": self.headers["Host"]})
                self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def other_server(server):
    """On 127.0.0.2, at the same port as `server`."""
    s = Server("127.0.0.2", server.port)
    yield s
    s.close()


def post(url: str) -> httpx.Response:
    with netguard.guarded_client(5.0) as client:
        return client.post(url, content=b"{}")


def test_a_name_that_resolves_to_loopback_is_refused_when_called(settings, server):
    settings.WEBHOOK_ALLOW = ["localhost"]
    url = f"http://localhost:{server.port}/hook"
    netguard.check_url(url)  # saved while the administrator allowed it
    settings.WEBHOOK_ALLOW = []
    with pytest.raises(netguard.AddressRefused, match="address not allowed: 127.0.0.1 is loop"):
        post(url)
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}/", "http://0x7f.1:{port}/", "http://2130706433:{port}/"],
)
def test_literal_loopback_forms_are_refused_when_called(settings, server, url):
    settings.WEBHOOK_ALLOW = []
    with pytest.raises(netguard.AddressRefused, match="127.0.0.1 is loopback"):
        post(url.format(port=server.port))
    assert server.requests == []


def test_the_allow_list_lets_a_call_through_by_name_and_by_network(settings, server):
    settings.WEBHOOK_ALLOW = ["localhost"]
    assert post(f"http://localhost:{server.port}/by-name").status_code == 200
    settings.WEBHOOK_ALLOW = ["127.0.0.0/30"]
    assert post(f"http://localhost:{server.port}/by-network").status_code == 200
    assert post(f"http://0x7f.1:{server.port}/by-number").status_code == 200
    assert [r["path"] for r in server.requests] == ["/by-name", "/by-network", "/by-number"]
    assert server.requests[0]["host"] == f"localhost:{server.port}"  # the name is kept


def test_a_redirect_to_a_private_address_is_not_followed(settings, server, other_server):
    settings.WEBHOOK_ALLOW = ["127.0.0.1/32"]  # the first server only
    server.status, server.location = 302, f"http://127.0.0.2:{other_server.port}/inside"
    response = post(f"http://127.0.0.1:{server.port}/hook")
    assert response.status_code == 302
    assert other_server.requests == []
    with pytest.raises(netguard.AddressRefused, match="127.0.0.2 is loopback"):
        post(server.location)  # and the target itself is refused


def test_the_connection_goes_to_the_checked_address(settings, server, other_server, monkeypatch):
    """DNS rebinding: a name that answers an allowed address to the check and an inside one
    to a second lookup. The guarded client resolves once and connects to what it checked."""
    settings.WEBHOOK_ALLOW = ["127.0.0.1/32"]
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            host = next(answers)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    response = post(f"http://rebind.example:{server.port}/hook")
    assert response.status_code == 200
    assert server.requests == [{"path": "/hook", "host": f"rebind.example:{server.port}"}]
    assert other_server.requests == []


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate names `localhost` only."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    s = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s.httpd.socket = context.wrap_socket(s.httpd.socket, server_side=True)
    yield s, ssl.create_default_context(cafile=str(cert))
    s.close()


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_checked_address(
    settings, tls_server
):
    server, trusted = tls_server
    settings.WEBHOOK_ALLOW = ["localhost", "127.0.0.1"]
    with netguard.guarded_client(5.0, verify=trusted) as client:
        response = client.post(f"https://localhost:{server.port}/tls", content=b"{}")
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.post(f"https://127.0.0.1:{server.port}/by-address", content=b"{}")
    assert server.requests == [{"path": "/tls", "host": f"localhost:{server.port}"}]
