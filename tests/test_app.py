"""The Streamlit page (AppTest, in the suite) and the real server in a headless browser (skips without one)."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featbus.datasets import make_phantoms
from featbus.deploy.app import (
    REFUSED_BODY,
    analyse,
    intensity_position,
    origin_allowed,
    request_allowed,
    streamlit_command,
)
from featbus.workflows.training import train_model

pytestmark = pytest.mark.slow  # starts a server (python -m pytest -m "not slow" leaves it out)

APP = Path(__file__).resolve().parents[1] / "featbus" / "deploy" / "app.py"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    before = os.environ.get("FEATBUS_TRUSTED_MODELS")
    os.environ["FEATBUS_TRUSTED_MODELS"] = str(root / "trusted.txt")  # never the user's own list
    data = make_phantoms(45, image_size=64, random_state=0)
    model = train_model(data, "intensity,lbp", classifier="svm", n_bootstrap=50, progress=False)
    path = model.save(root / "m.featbus")
    image = root / "case.png"
    # a phantom with a lesion (index 2, benign): its explanation has regions that raise the
    # predicted class, which the browser test looks for (a normal image may have none)
    Image.fromarray(make_phantoms(3, image_size=64, random_state=7).images[2]).save(image)
    yield model, path, image
    if before is None:
        os.environ.pop("FEATBUS_TRUSTED_MODELS", None)
    else:
        os.environ["FEATBUS_TRUSTED_MODELS"] = before


def test_analyse_gives_what_the_page_shows(saved_model):
    model, _, image = saved_model
    res = analyse(model, str(image))
    assert res["predicted"] in model.classes_ and abs(sum(res["proba"].values()) - 1) < 1e-9
    assert res["overlay"].shape == (64, 64, 3) and res["method"] == "occlusion"
    assert set(res["intensity"]["classes"]) == set(model.classes_)
    for c in res["intensity"]["classes"].values():
        assert 0 <= c["mean"] <= 100 and 0 <= c["std"] <= 100
    assert res["out_of_domain"] is not None and np.isfinite(res["out_of_domain"])
    assert res["rule"] == "the most probable class" and res["most_probable"] == res["predicted"]
    # an image unlike every training image (a checkerboard) is said to be one
    board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    assert analyse(model, board)["out_of_domain"] > 1


def test_intensity_position_of_the_training_extremes(saved_model):
    model, _, _ = saved_model
    assert all(v["mean"] == 0 for v in intensity_position(model, np.zeros((8, 8)))["classes"].values())


def test_page_with_streamlit_apptest(saved_model, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    model, path, image = saved_model
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    monkeypatch.setenv("FEATBUS_APP_DATA", str(image.parent))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert "Upload an image" in at.info[0].value
    at.text_input[0].input(str(image)).run()
    assert not at.exception, at.exception
    predicted = at.subheader[0].value
    assert predicted.startswith("Predicted: ") and predicted.split(": ")[1] in model.classes_
    assert predicted.split(": ")[1] == model.predict([str(image)])[0]
    assert len(at.get("image")) == 3 and len(at.dataframe) == 1  # image, overlay, intensity plot; probabilities
    assert at.subheader[1].value.startswith("Intensity") and any("benign" in c.value for c in at.caption)


def test_page_shows_the_rule_beside_its_answer(saved_model, monkeypatch, tmp_path):
    """A stored operating point that overrules the most probable class is said under the answer,
    not only in the sidebar's text (issue 60)."""
    pytest.importorskip("streamlit")
    import copy

    from streamlit.testing.v1 import AppTest

    model, path, image = saved_model
    plain = AppTest.from_file(str(APP), default_timeout=120)
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    monkeypatch.setenv("FEATBUS_APP_DATA", str(image.parent))
    plain.run()
    plain.text_input[0].input(str(image)).run()
    assert any(c.value.startswith("Decided by: the most probable class") for c in plain.caption)
    most = max(zip(model.predict_proba([str(image)])[0], model.classes_))[1]
    other = next(str(c) for c in model.classes_ if c != most)  # a class the rule answers, not the most probable
    low = copy.deepcopy(model)
    low.manifest["operating_point"] = {"positive": other, "threshold": 0.0}  # always that class
    low_path = low.save(tmp_path / "low.featbus")
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(low_path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.text_input[0].input(str(image)).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == f"Predicted: {other}"
    caption = next(c.value for c in at.caption if c.value.startswith("Decided by"))
    assert f"operating point: {other} when p({other}) >= 0" in caption
    assert f"The most probable class is {most}" in caption


def test_page_reports_an_unreadable_path(saved_model, monkeypatch, tmp_path):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    _, path, _ = saved_model
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"SECRET=hunter2, not an image")
    monkeypatch.setenv("FEATBUS_APP_DATA", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.text_input[0].input(str(bad)).run()
    assert not at.exception and "cannot read the image" in at.error[0].value
    assert "SECRET" not in at.error[0].value and "hunter2" not in at.error[0].value  # no file contents echoed


def test_page_opens_paths_only_inside_its_data_folders(saved_model, monkeypatch, tmp_path):
    """A typed path or ?image= outside the folders given with --data is refused; without any
    folder the page takes uploads only."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    _, path, image = saved_model
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    inside = tmp_path / "data"
    inside.mkdir()
    monkeypatch.setenv("FEATBUS_APP_DATA", str(inside))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    for outside in (str(image), str(inside / ".." / image.name), "/etc/passwd"):
        at.text_input[0].input(outside).run()
        assert not at.exception and "outside the data folder" in at.error[0].value, outside
        assert not at.subheader or not at.subheader[0].value.startswith("Predicted")
    shutil.copy(image, inside / "ok.png")
    at.text_input[0].input(str(inside / "ok.png")).run()
    assert not at.exception and at.subheader[0].value.startswith("Predicted")
    monkeypatch.delenv("FEATBUS_APP_DATA")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["image"] = str(image)
    at.run()
    assert not at.exception and not at.text_input and "ignored" in at.warning[0].value


@pytest.fixture(scope="module")
def roi_models(saved_model, tmp_path_factory, phantom_unet):
    """Two saved models with a small U-Net segmenter: one that finds lesions, and the same one
    told to ignore anything under 99 % of the image (so it never finds one)."""
    pytest.importorskip("keras")
    from featbus import ROICropper
    from featbus.model import FeatbusModel

    root = tmp_path_factory.mktemp("app_roi")  # saved_model set FEATBUS_TRUSTED_MODELS for the module
    data = make_phantoms(30, image_size=64, random_state=0)
    seg = phantom_unet  # the shared U-Net (conftest), trained on phantoms: it finds their lesions
    model = train_model(data, "intensity,shape", classifier="logreg", segmenter=seg, cross_validate=False,
                        progress=False)
    blind_roi = ROICropper(segmenter=seg, source="segmenter", on_empty="image", min_area=0.99).fit(data.data)
    blind = FeatbusModel(model.features, model.head, dict(model.manifest), blind_roi)
    return model.save(root / "roi.featbus"), blind.save(root / "blind.featbus")


def test_page_draws_the_lesion_roi_of_a_model_with_a_segmenter(saved_model, roi_models, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from featbus.model import load_model

    _, _, image = saved_model  # a benign phantom: a lesion to find
    for path, found in zip(roi_models, (True, False)):
        res = analyse(load_model(path), str(image))
        assert res["roi"]["found"] is found and res["roi_overlay"].shape == (64, 64, 3)
        monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
        monkeypatch.setenv("FEATBUS_APP_DATA", str(image.parent))
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.text_input[0].input(str(image)).run()
        assert not at.exception, at.exception
        assert at.subheader[1].value == "Lesion ROI (what the features saw)"
        assert len(at.get("image")) == 4  # image, explanation, lesion ROI, intensity plot
        captions = " ".join(c.value for c in at.caption)
        if found:
            assert "crop box rows" in captions and "predicted lesion contour" in captions
            # the box (yellow) and the contour (red) are drawn on the grey image
            rgb = res["roi_overlay"].astype(int)
            assert ((rgb[..., 0] - rgb[..., 2]) > 100).sum() > 20
        else:
            assert "no lesion found: whole image used" in captions
            assert np.ptp(res["roi_overlay"].astype(int), axis=2).max() == 0  # nothing drawn


def test_page_refuses_images_over_its_pixel_limit(saved_model, monkeypatch, tmp_path):
    """A file claiming more pixels than the page's limit is refused by its header, before its
    pixels are decoded, with a message that names the limit (uploads go through the same reader)."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from featbus.deploy.app import _read_upload

    _, path, image = saved_model
    inside = tmp_path / "data"
    inside.mkdir()
    shutil.copy(image, inside / "big.png")
    h, w = np.asarray(Image.open(image)).shape[:2]
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    monkeypatch.setenv("FEATBUS_APP_DATA", str(inside))
    monkeypatch.setenv("FEATBUS_APP_MAX_PIXELS", str(h * w - 1))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.text_input[0].input(str(inside / "big.png")).run()
    assert not at.exception and f"more than {h * w - 1:,} pixels" in at.error[0].value
    assert not at.subheader or not at.subheader[0].value.startswith("Predicted")
    with pytest.raises(ValueError, match="more than the limit"):
        _read_upload("big.png", (inside / "big.png").read_bytes())
    monkeypatch.setenv("FEATBUS_APP_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="must be a positive integer"):
        _read_upload("big.png", b"")


def test_server_binds_to_localhost_only():
    cmd = streamlit_command("m.featbus", port=8600)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert int(cmd[cmd.index("--server.maxUploadSize") + 1]) <= 50
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    # streamlit runs through featbus.deploy.app.serve, which guards every route before the server starts
    assert cmd[1:3] == ["-c", "from featbus.deploy.app import serve; serve()"] and cmd[3:5] == ["run", str(APP)]


def test_request_rule_for_host_and_origin(monkeypatch):
    monkeypatch.delenv("FEATBUS_APP_HOSTS", raising=False)
    assert request_allowed(["127.0.0.1:8501"], ["http://127.0.0.1:8501"], 8501)
    assert request_allowed(["[::1]:8501"], ["http://[::1]:8501"], 8501) and request_allowed([], [], 8501)
    assert not request_allowed(["rebind.example:8501"], [], 8501)
    assert not request_allowed(["localhost:8501", "rebind.example"], [], 8501)  # two Host headers
    for origin in ("http://rebind.example:8501", "http://localhost:3000", "http://localhost", "null",
                   "file://", "chrome-extension://abc", "http://localhost:8501@rebind.example:8501",
                   "http://u@localhost:8501", "http://localhost:85o1", "http://localhost:8501/x"):
        assert not origin_allowed(origin, 8501), origin
        assert not request_allowed(["localhost:8501"], [origin], 8501), origin
    # a name given with --allow-host: answered, its pages on any port (a reverse proxy's own)
    monkeypatch.setenv("FEATBUS_APP_HOSTS", "proxy.example")
    assert request_allowed(["proxy.example"], ["https://proxy.example"], 8501)
    assert request_allowed(["127.0.0.1:8501"], ["https://proxy.example:8443"], 8501)
    assert not request_allowed(["proxy.example"], ["https://rebind.example"], 8501)


def _ask(port: int, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    """One raw HTTP request with exactly these headers (Host included: what a rebinding page sends)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


_WS_UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "streamlit"}
_UPLOAD = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png'
           b"\r\n\r\nnot really a png\r\n--b--\r\n")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM (featbus app stops its Streamlit child), then SIGKILL whatever of the group is left."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def app_server(saved_model, tmp_path_factory):
    """`featbus app MODEL` on a free port, as a user starts it; yields the port once /_stcore/health
    answers a local Host. The server (its whole process group) is always stopped afterwards."""
    pytest.importorskip("streamlit")
    _, path, _ = saved_model
    port = _free_port()
    log = tmp_path_factory.mktemp("app_server") / "server.log"
    env = dict(os.environ, PYTHONPATH=str(APP.parents[1]), TF_CPP_MIN_LOG_LEVEL="2")
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "featbus", "app", str(path), "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if _ask(port, "GET", "/_stcore/health", {"Host": f"localhost:{port}"})[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                pytest.fail("featbus app did not answer /_stcore/health:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield port
    finally:
        _stop_group(server)


@pytest.mark.timeout(240)
def test_server_health_answers_local_hosts_only(app_server):
    port = app_server
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert _ask(port, "GET", "/_stcore/health", {"Host": host}) == (200, b"ok"), host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        assert _ask(port, "GET", "/_stcore/health", {"Host": host}) == (403, REFUSED_BODY), host
    assert _ask(port, "GET", "/healthz", {"Host": f"evil.example:{port}"}) == (403, REFUSED_BODY)


@pytest.mark.timeout(240)
def test_server_refuses_the_page_and_static_files_to_a_foreign_host(app_server):
    port = app_server
    for path in ("/", "/favicon.png", "/?image=/etc/passwd"):
        assert _ask(port, "GET", path, {"Host": f"localhost:{port}"})[0] == 200, path
        assert _ask(port, "GET", path, {"Host": f"evil.example:{port}"}) == (403, REFUSED_BODY), path


@pytest.mark.timeout(240)
def test_server_refuses_uploads_addressed_to_a_foreign_host(app_server):
    port = app_server
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    status, body = _ask(port, "PUT", "/_stcore/upload_file/x/y", {"Host": f"evil.example:{port}", **headers}, _UPLOAD)
    assert (status, body) == (403, REFUSED_BODY)  # refused before Streamlit's upload handler
    # addressed locally, the request reaches Streamlit's handler (which wants its XSRF token)
    status, body = _ask(port, "PUT", "/_stcore/upload_file/x/y", {"Host": f"localhost:{port}", **headers}, _UPLOAD)
    assert body != REFUSED_BODY


@pytest.mark.timeout(240)
def test_server_refuses_a_websocket_upgrade_to_a_foreign_host_or_origin(app_server):
    port = app_server
    local, evil = f"localhost:{port}", f"evil.example:{port}"
    assert _ask(port, "GET", "/_stcore/stream", {"Host": evil, **_WS_UPGRADE}) == (403, REFUSED_BODY)
    # a rebinding page: its own name in both headers (Streamlit's same-origin check lets that through)
    assert _ask(port, "GET", "/_stcore/stream", {"Host": evil, "Origin": f"http://{evil}", **_WS_UPGRADE}) == (
        403, REFUSED_BODY)
    # a page of another origin, the request addressed locally: another name, or another local server
    for origin in (f"http://{evil}", "http://localhost:1", "null"):
        assert _ask(port, "GET", "/_stcore/stream", {"Host": local, "Origin": origin, **_WS_UPGRADE}) == (
            403, REFUSED_BODY), origin
    assert _ask(port, "GET", "/_stcore/stream", {"Host": local, "Origin": f"http://{local}", **_WS_UPGRADE})[0] == 101


@pytest.mark.timeout(240)
def test_server_refuses_a_foreign_origin_with_a_local_host(app_server):
    port = app_server
    local = f"localhost:{port}"
    assert _ask(port, "GET", "/_stcore/health", {"Host": local, "Origin": f"http://{local}"}) == (200, b"ok")
    for origin in ("http://evil.example", f"http://evil.example:{port}", "http://localhost:3000"):
        for method, path, body in (("GET", "/_stcore/health", None), ("GET", "/", None),
                                   ("PUT", "/_stcore/upload_file/x/y", _UPLOAD)):
            headers = {"Host": local, "Origin": origin, "Content-Type": "multipart/form-data; boundary=b"}
            assert _ask(port, method, path, headers, body) == (403, REFUSED_BODY), (origin, path)


@pytest.mark.timeout(120)
def test_request_guard_on_a_tornado_server(tmp_path):
    """Streamlit served with Tornado before Starlette: the same guard holds there (every route,
    WebSocket upgrades included)."""
    pytest.importorskip("tornado")
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio
        import tornado.web, tornado.websocket
        from featbus.deploy.app import install_request_guard

        install_request_guard({port})

        class Page(tornado.web.RequestHandler):
            def get(self):
                self.write("ok")

            def put(self):
                self.write("stored")

        class Stream(tornado.websocket.WebSocketHandler):
            def check_origin(self, origin):
                return True

        async def main():
            tornado.web.Application([(r"/", Page), (r"/stream", Stream)]).listen({port}, "127.0.0.1")
            await asyncio.Event().wait()

        asyncio.run(main())
    """))
    server = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ, PYTHONPATH=str(APP.parents[1])),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        local, evil = f"localhost:{port}", f"evil.example:{port}"
        deadline = time.time() + 60
        while True:
            try:
                assert _ask(port, "GET", "/", {"Host": local}) == (200, b"ok")
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "the Tornado server did not start"
                time.sleep(0.3)
        assert _ask(port, "GET", "/", {"Host": evil}) == (403, REFUSED_BODY)
        assert _ask(port, "PUT", "/", {"Host": evil}, b"x") == (403, REFUSED_BODY)
        assert _ask(port, "PUT", "/", {"Host": local}, b"x") == (200, b"stored")
        assert _ask(port, "GET", "/", {"Host": local, "Origin": "http://localhost:3000"}) == (403, REFUSED_BODY)
        assert _ask(port, "GET", "/stream", {"Host": evil, **_WS_UPGRADE}) == (403, REFUSED_BODY)
        assert _ask(port, "GET", "/stream", {"Host": local, "Origin": f"http://{evil}", **_WS_UPGRADE}) == (
            403, REFUSED_BODY)
        assert _ask(port, "GET", "/stream", {"Host": local, "Origin": f"http://{local}", **_WS_UPGRADE})[0] == 101
    finally:
        _stop_group(server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(browser: str, url: str, out: Path, *, wait: float = 20, size=(1300, 1000), args=()) -> Path:
    """Load url in headless Chromium and save a PNG after `wait` real seconds (DevTools protocol).

    ``chromium --screenshot`` shoots at the load event, before Streamlit's websocket has drawn
    anything; here the page gets real time to talk to the server first.
    """
    import base64
    import json
    import urllib.request

    from websockets.sync.client import connect

    port = _free_port()
    proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu",
                             f"--remote-debugging-port={port}", *args, "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2))
                page = next(t for t in tabs if t.get("type") == "page")
                break
            except (OSError, StopIteration, ValueError):
                time.sleep(0.2)
        else:
            raise RuntimeError("the browser's DevTools endpoint did not answer")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            counter = iter(range(1, 10**6))

            def call(method, **params):
                n = next(counter)
                ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv(timeout=120))
                    if msg.get("id") == n:
                        return msg.get("result", {})

            call("Page.enable")
            call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                 mobile=False)
            call("Page.navigate", url=url)
            time.sleep(wait)
            out.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def _error_box_pixels(rgb: np.ndarray) -> int:
    """Pixels of the light pink background of Streamlit's st.error box (red over white: green and
    blue equal), not the research notice's light orange (green above blue)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 245) & (r - g > 8) & (np.abs(g - b) <= 3)).sum())


def test_real_server_in_a_headless_browser(saved_model, tmp_path):
    """Start `featbus app`, load the page with an image in headless Chromium, check it was drawn."""
    pytest.importorskip("streamlit")
    pytest.importorskip("websockets")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser (chromium) installed")
    _, path, image = saved_model
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(APP.parents[1]))
    server = subprocess.Popen([sys.executable, "-m", "featbus", "app", str(path), "--port", str(port),
                               "--data", str(image.parent)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the app did not start listening on 127.0.0.1")
        from urllib.parse import quote

        shot = screenshot(browser, f"http://127.0.0.1:{port}/?image={quote(str(image))}", tmp_path / "page.png")
        rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        # the overlay's warm colours are on the page: red, green or yellow pixels (the page itself is
        # grey, white and the blue of its bar chart)
        colourful = ((rgb[..., 0] - rgb[..., 2]) > 50) | ((rgb[..., 1] - rgb[..., 2]) > 50)
        assert rgb.std() > 20 and colourful.sum() > 20 and _error_box_pixels(rgb) < 100
        # the same server reached under a foreign name (what a DNS-rebinding page does): the
        # browser resolves rebind.example to 127.0.0.1 and sends Host: rebind.example
        foreign = screenshot(browser, f"http://rebind.example:{port}/?image={quote(str(image))}",
                             tmp_path / "foreign.png", args=["--host-resolver-rules=MAP rebind.example 127.0.0.1"])
        rgb = np.asarray(Image.open(foreign).convert("RGB")).astype(int)
        # refused before Streamlit answers (403 with a line of plain text): no page, no image, no overlay
        colourful = ((rgb[..., 0] - rgb[..., 2]) > 50) | ((rgb[..., 1] - rgb[..., 2]) > 50)
        inked = (rgb.min(axis=2) < 200).mean()
        assert colourful.sum() == 0 and inked < 0.02, "the page answered a foreign Host"
    finally:
        server.terminate()  # featbus app stops its Streamlit child when terminated
        server.wait(timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(0.5)
        except OSError:
            break
    else:
        pytest.fail("the Streamlit server still listens after featbus app was terminated")


@pytest.mark.parametrize("fmt,name", [("PNG", "a.png"), ("JPEG", "b.jpg")])
def test_uploaded_bytes_are_read_like_files(fmt, name):
    import io

    from featbus.deploy.app import _read_upload

    image = make_phantoms(1, image_size=64, random_state=1).images[0]
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    got = _read_upload(name, buf.getvalue())
    assert got.shape == image.shape
    if fmt == "PNG":
        assert np.array_equal(got, image)
    with pytest.raises(ValueError):
        _read_upload("c.png", b"not an image")


def test_page_and_command_say_research_use_only(saved_model, monkeypatch, capsys):
    """The notice tops the page (before any model is loaded) and `featbus app` prints it once."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    import featbus.deploy.app as app

    model, path, image = saved_model
    monkeypatch.setenv("FEATBUS_APP_MODEL", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert "Research use only, not for diagnosis" in at.markdown[0].value
    monkeypatch.delenv("FEATBUS_APP_MODEL")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()  # no model: the notice is still there, above the error
    assert "Research use only" in at.markdown[0].value and "no model" in at.error[0].value

    class Server:  # the streamlit process run_app would start
        def __init__(self, *args, **kwargs):
            pass

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(app.subprocess, "Popen", Server)
    assert app.run_app(path, port=8599) == 0
    out = capsys.readouterr().out
    assert out.count("Research use only, not for diagnosis") == 1, out
