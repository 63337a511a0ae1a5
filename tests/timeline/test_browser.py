"""timeline.html in a real browser: headless Chromium, network off, DOM read back, screenshot checked."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from serialsync.timeline import from_lava_logs, from_run, write_timeline

from .synthetic import synthetic_run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "timeline"
BROWSER = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="Chromium not installed; CI installs it: apt-get install chromium"),
]


def _no_network_prefix() -> list[str]:
    """`unshare -n` (a network namespace with no interfaces up) where this machine allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


NO_NETWORK = _no_network_prefix()


def browser(page: Path, tmp_path: Path, *args: str, fragment: str = "", timeout: float = 300) -> tuple[str, float]:
    """Run headless Chromium on *page* with the network off; (stdout, seconds it took)."""
    command = [
        *NO_NETWORK,
        BROWSER,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        # Even without a namespace, nothing can be fetched: no proxy answers, no name resolves.
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=20000",
        *args,
        page.resolve().as_uri() + fragment,
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    took = time.monotonic() - started
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout, took


def dump_dom(page: Path, tmp_path: Path, fragment: str = "") -> tuple[str, float]:
    return browser(page, tmp_path, "--dump-dom", fragment=fragment)


def count(dom: str, pattern: str) -> int:
    return len(re.findall(pattern, dom))


def png_pixels(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels) of an 8-bit RGB or RGBA PNG: zlib and the five PNG filters."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * (3 if colour == 2 else 4)
    previous, pixels = bytearray(stride), []
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        pixels += [tuple(line[i : i + 3]) for i in range(0, stride, size)]
        previous = line
    return width, height, pixels


@pytest.fixture
def failures_page(tmp_path) -> Path:
    return write_timeline(from_run(FIXTURES / "sim-failures"), tmp_path / "timeline.html")


def test_timeline_page_is_self_contained(failures_page):
    text = failures_page.read_text(encoding="utf-8")
    # The only URL is SVG's namespace name, which is never fetched.
    assert set(re.findall(r"\b(?:https?|ftp)://[^\s\"'<>)]+", text)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=|@import|url\((?!#)", text)
    assert "Content-Security-Policy" in text


def test_timeline_page_in_a_browser_draws_lanes_bars_rounds_links(failures_page, tmp_path):
    timeline = from_run(FIXTURES / "sim-failures")
    dom, took = dump_dom(failures_page, tmp_path)
    print(f"\nchromium loaded the page in {took:.2f}s (network namespace: {bool(NO_NETWORK)})")
    assert 'data-ready="1"' in dom, "the page's script did not run to its end"
    for item in timeline.lanes:
        assert re.search(rf'<text class="name"[^>]*>{item.name}<title>', dom), item.name
    assert re.search(r'<text class="sub fail"[^>]*>client · fail', dom)
    assert count(dom, r'<rect class="bar (?:call|request) ') == len(timeline.calls())
    assert count(dom, r'<rect class="bar call nack"') == 2  # the unknown role; client3 gone
    assert count(dom, r'<rect class="bar call timeout"') == 1  # lava-wait late
    assert count(dom, r'<rect class="bar step fail"') == sum(
        b.kind == "step" and b.outcome == "fail" for b in timeline.bars
    )
    assert count(dom, r'<line class="round"') == 3  # 'round', reused three times
    assert count(dom, r'<line class="link') == len(timeline.links) > 0
    assert count(dom, r'<line class="gone"') == 3 and count(dom, r'<line class="cause"') >= 1
    assert re.search(r'<text class="bl"[^>]*>lava-wait late</text>', dom)
    ticks = re.findall(r'<text [^>]*class="tick"[^>]*>([^<]+)</text>', dom)
    assert len(ticks) >= 4 and all(t.endswith(" s") for t in ticks), ticks


def test_timeline_page_zooms_to_a_window_of_time(failures_page, tmp_path):
    dom, _ = dump_dom(failures_page, tmp_path, fragment="#from=0.2&to=0.3")
    ticks = re.findall(r'<text [^>]*class="tick"[^>]*>([^<]+)</text>', dom)
    assert ticks and all(re.fullmatch(r"0\.[23]\d s", t) for t in ticks), ticks
    # An element of the window is drawn wide: client1's 3 s timeout now spans the whole plot.
    (width,) = re.findall(r'<rect class="bar call timeout"[^>]*width="([\d.]+)"', dom)
    assert float(width) > 1000


def test_timeline_page_shows_an_elements_details(failures_page, tmp_path):
    timeline = from_run(FIXTURES / "sim-failures")
    (late,) = [b for b in timeline.bars if b.label == "lava-wait late"]
    dom, _ = dump_dom(failures_page, tmp_path, fragment=f"#show={late.id}")
    (panel,) = re.findall(r'<aside id="details"[^>]*>(.*?)</aside>', dom, re.S)
    assert "<h2>client1: lava-wait late</h2>" in panel
    assert "<td>outcome</td><td>timeout</td>" in panel
    assert "client2 never sent it" in panel
    assert "WAIT late" in panel and "this moment" in panel  # the console around it
    assert re.search(rf'<rect class="bar call timeout on" data-i="{late.id}"', dom)


def test_timeline_screenshot_is_not_blank(tmp_path):
    page = write_timeline(from_lava_logs(sorted((FIXTURES / "lava-group").glob("*.yaml"))), tmp_path / "t.html")
    shot = tmp_path / "shot.png"
    browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,500")
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 500)
    colours = set(pixels)
    ink = sum(1 for p in pixels if p != (255, 255, 255))
    print(f"\nscreenshot {width}x{height}: {len(colours)} colours, {ink / len(pixels):.1%} not white")
    assert len(colours) > 50 and ink / len(pixels) > 0.05
    for name, colour in (
        ("call ok", (0x2E, 0x8B, 0x57)),
        ("nack", (0xEF, 0x8C, 0x00)),
        ("timed out", (0xC6, 0x28, 0x28)),
    ):
        assert pixels.count(colour) > 100, f"no {name} bar drawn"


def test_timeline_page_size_for_32_boards_500_calls(tmp_path):
    page = write_timeline(from_run(synthetic_run(tmp_path / "run", devices=32, calls=500)), tmp_path / "t.html")
    size = page.stat().st_size
    print(f"\n32 boards, 500 calls: {size / 1024:.0f} KiB")
    assert size < 1_000_000


def test_timeline_big_run_renders_in_a_browser(tmp_path):
    run = synthetic_run(tmp_path / "run", devices=64, calls=2000)
    started = time.monotonic()
    timeline = from_run(run)
    page = write_timeline(timeline, tmp_path / "t.html")
    built = time.monotonic() - started
    dom, took = dump_dom(page, tmp_path)
    print(
        f"\n64 boards, 2000 calls: page {page.stat().st_size / 1024:.0f} KiB built in {built:.2f}s, "
        f"loaded and laid out by chromium in {took:.2f}s (a generous bound: 300 s)"
    )
    assert 'data-ready="1"' in dom
    assert count(dom, r'<rect class="bar call ') == len(timeline.calls()) == 2000
    assert count(dom, r'<text class="name"') == 64
