"""The HTML briefing in a real browser: headless chromium, driven over the DevTools protocol.

The page must load without a single request leaving it (every image is a data:
URI; DNS is also mapped to nowhere, so a leak would fail rather than reach out),
every image must decode at its full size, and the console must stay free of
errors (a Content-Security-Policy violation is one). .ci/run installs chromium;
outside CI the test is skipped where chromium is absent, in CI it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("CI needs chromium for the briefing's browser test (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def _port(profile: Path, proc: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    for _ in range(600):
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        assert proc.poll() is None, "chromium exited before opening its DevTools port"
        time.sleep(0.1)
    raise AssertionError("chromium did not open its DevTools port within 60 s")


async def _visit(port: int, url: str) -> dict[str, Any]:
    """Load ``url`` in the page target; collect requests, console errors and the images."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            seen: dict[str, Any] = {"requests": [], "errors": [], "images": None}
            ids = iter(range(1, 1000))
            replies: dict[int, Any] = {}

            async def call(method: str, **params: Any) -> Any:
                n = next(ids)
                await ws.send_json({"id": n, "method": method, "params": params})
                while n not in replies:
                    await pump()
                return replies.pop(n)

            loaded = asyncio.Event()

            async def pump() -> None:
                msg = json.loads((await ws.receive()).data)
                if "id" in msg:
                    replies[msg["id"]] = msg.get("result", msg.get("error"))
                    return
                method, params = msg.get("method"), msg.get("params", {})
                if method == "Network.requestWillBeSent":
                    seen["requests"].append(params["request"]["url"])
                elif method == "Runtime.exceptionThrown" or (
                    method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert")
                ):
                    seen["errors"].append(params)
                elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                    seen["errors"].append(params["entry"])
                elif method == "Page.loadEventFired":
                    loaded.set()

            for domain in ("Network", "Runtime", "Log", "Page"):
                await call(f"{domain}.enable")
            await call("Page.navigate", url=url)
            while not loaded.is_set():
                await pump()
            # DevTools evaluation is not page script: the briefing's CSP still forbids its own.
            got = await call(
                "Runtime.evaluate",
                expression="JSON.stringify(Array.from(document.images, i => "
                "[i.complete, i.naturalWidth, i.naturalHeight]))",
                returnByValue=True,
                awaitPromise=True,
            )
            seen["images"] = json.loads(got["result"]["value"])
            # Late console messages (a CSP report comes after load) get a moment to arrive.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pump_forever(pump), timeout=1.0)
            return seen


async def pump_forever(pump: Any) -> None:
    while True:
        await pump()


def test_html_briefing_in_headless_chromium(tmp_path, chromium):
    out = tmp_path / "briefing.html"
    proc = run_cli("brief", "--sample", "--watch", "CN-LN", "--watch", "ES", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    profile = tmp_path / "profile"
    browser = subprocess.Popen(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port = _port(profile, browser)
        url = out.as_uri()
        seen = asyncio.run(asyncio.wait_for(_visit(port, url), timeout=120))
    finally:
        browser.terminate()
        browser.wait(timeout=30)
    leaving = [u for u in seen["requests"] if u != url and not u.startswith("data:")]
    assert not leaving
    assert not seen["errors"]
    images = seen["images"]
    assert len(images) == 7  # five charts and a timeline per watched place
    assert all(img == [True, 1600, 900] for img in images), images
