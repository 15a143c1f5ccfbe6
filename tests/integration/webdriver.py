"""A minimal W3C WebDriver client (standard library only) for headless
Chromium through Debian's chromedriver: start, navigate, find, type,
click, run a script, wait, screenshot."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from lib import util

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def available():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


class WebDriverError(AssertionError):
    pass


class Browser:
    def __init__(self, tmp, width=1280, height=860):
        self.port = util.free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
        self.log = open(os.path.join(tmp, "chromedriver.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        util.wait_port(self.port, timeout=20)
        self.base = "http://127.0.0.1:%d" % self.port
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-quic", "--no-first-run",
                         "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage",
                         "--user-data-dir=" + self.profile,
                         "--window-size=%d,%d" % (width, height)]}}}}
        try:
            r = self._call("POST", "/session", caps, timeout=60)
        except Exception:
            self.close()
            raise
        self.sid = r["sessionId"]

    def _call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method, headers={
                                         "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(
                    req, timeout=timeout * util.slow_factor()) as r:
                out = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise WebDriverError("%s %s: %s" % (method, path,
                                                e.read()[:500]))
        return out.get("value", out) if path != "/session" else out["value"]

    def s(self, method, path, body=None, **kw):
        return self._call(method, "/session/%s%s" % (self.sid, path), body,
                          **kw)

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        r = self.s("POST", "/element", {"using": "css selector",
                                        "value": css})
        return r[ELEMENT]

    def finds(self, css):
        r = self.s("POST", "/elements", {"using": "css selector",
                                         "value": css})
        return [e[ELEMENT] for e in r]

    def type(self, css, text, clear=True):
        e = self.find(css)
        if clear:
            self.s("POST", "/element/%s/clear" % e, {})
        self.s("POST", "/element/%s/value" % e, {"text": text})

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script,
                                                "args": list(args)})

    def text(self, css):
        return self.s("GET", "/element/%s/text" % self.find(css))

    def wait(self, script, timeout=20, what=None, *args):
        """Wait until the JS expression (a function body returning a value)
        is truthy; returns its value."""
        deadline = time.monotonic() + timeout * util.slow_factor()
        while True:
            v = self.js(script, *args)
            if v:
                return v
            if time.monotonic() > deadline:
                raise WebDriverError("timed out waiting for %s" %
                                     (what or script))
            time.sleep(0.15)

    def visible(self, css, timeout=20):
        return self.wait("const e = document.querySelector(arguments[0]);"
                         "return !!(e && e.offsetParent !== null);",
                         timeout, "%s visible" % css, css)

    def screenshot(self, path):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return png

    def set_size(self, w, h):
        self.s("POST", "/window/rect", {"width": w, "height": h})

    def close(self):
        try:
            if getattr(self, "sid", None):
                self._call("DELETE", "/session/%s" % self.sid, timeout=20)
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
