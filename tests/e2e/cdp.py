"""A small headless-Chromium driver over the DevTools protocol (CDP), with
Debian's chromium and python3-websocket: no npm, no browser download.

    with Chromium(log_path) as browser:
        page = browser.page          # one tab
        page.navigate(url)
        page.wait_for("document.readyState === 'complete'", 10, "the page to load")
        page.type_text("#field", "text")
        page.click("#button")
        page.screenshot(path)

Everything is synchronous: events (console messages, exceptions, log
entries, network requests) are collected while waiting for command
answers; a handler registered with page.on(method, fn) runs as soon as its
event arrives (request interception with Fetch.requestPaused uses it).
The browser is stopped by its own pid, its profile directory removed.
"""
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket

CHROMIUM = os.environ.get("SOTTO_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT = 30      # seconds for the DevTools port to appear
COMMAND_TIMEOUT = 15    # seconds for one command's answer


def chromium_missing():
    """None when Chromium can run here, else why not."""
    if not os.path.exists(CHROMIUM):
        return "%s does not exist (Debian package chromium)" % CHROMIUM
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not executable" % CHROMIUM
    return None


class CDPError(AssertionError):
    pass


class Page:
    """One tab, driven over its own DevTools WebSocket."""

    def __init__(self, ws_url):
        # suppress_origin: Chromium refuses DevTools connections from an
        # Origin it was not told to allow (--remote-allow-origins).
        self.ws = websocket.create_connection(ws_url, timeout=COMMAND_TIMEOUT,
                                              suppress_origin=True,
                                              enable_multithread=False)
        self.next_id = 0
        self.events = []          # every event received, in order: (method, params)
        self.handlers = {}

    # -- protocol ------------------------------------------------------------
    def on(self, method, fn):
        self.handlers[method] = fn

    def _dispatch(self, msg):
        method = msg.get("method")
        if method is None:
            return
        params = msg.get("params", {})
        self.events.append((method, params))
        fn = self.handlers.get(method)
        if fn is not None:
            fn(params)

    def send(self, method, **params):
        """Send a command without waiting for its answer; its id."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def call(self, method, timeout=COMMAND_TIMEOUT, **params):
        """Send a command and return its result; CDPError on a protocol error."""
        want = self.send(method, **params)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer to %s within %ss" % (method, timeout))
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if msg.get("id") == want:
                if "error" in msg:
                    raise CDPError("%s failed: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._dispatch(msg)

    def pump(self, seconds):
        """Handle events for a while (lets intercepted requests through)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.ws.settimeout(left)
            try:
                self._dispatch(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                return

    # -- page helpers --------------------------------------------------------------
    def evaluate(self, expression, await_promise=False):
        """Value of a JavaScript expression (JSON-able); CDPError when it throws."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=await_promise)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise CDPError("JavaScript threw: %s\nin: %s" % (text, expression))
        return r.get("result", {}).get("value")

    def wait_for(self, expression, timeout, what, describe=None, interval=0.1):
        """Poll expression until truthy in JavaScript's sense (an element
        counts); its value (True for an object). On timeout CDPError with
        what, the last value and describe() (the page's own state)."""
        deadline = time.monotonic() + timeout
        last = None
        probe = ("(() => { const v = (%s); return [!!v, typeof v === 'object' ? !!v : v]; })()"
                 % expression)
        while True:
            try:
                ok, last = self.evaluate(probe)
                if ok:
                    return last
            except CDPError as e:
                last = str(e)
            if time.monotonic() >= deadline:
                extra = describe() if describe else ""
                raise CDPError("timed out after %ss waiting for %s (last value %r)\n%s"
                               % (timeout, what, last, extra))
            self.pump(interval)

    def navigate(self, url, timeout=20):
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout, "%s to load" % url)

    def click(self, selector):
        """Click the element like a user could: it must exist, be visible and enabled."""
        state = self.evaluate(
            "(() => { const e = document.querySelector(%s);"
            " if (!e) return 'missing';"
            " if (e.disabled) return 'disabled';"
            " if (!e.getClientRects().length) return 'hidden';"
            " e.scrollIntoView({block: 'center'}); e.click(); return 'ok'; })()"
            % json.dumps(selector))
        if state != "ok":
            raise CDPError("cannot click %s: %s" % (selector, state))

    def type_text(self, selector, text):
        """Focus an input, clear it, and type text as keyboard input."""
        ok = self.evaluate(
            "(() => { const e = document.querySelector(%s); if (!e) return false;"
            " e.focus(); e.value = ''; return document.activeElement === e; })()"
            % json.dumps(selector))
        if not ok:
            raise CDPError("cannot focus %s" % selector)
        self.call("Input.insertText", text=text)

    def text(self, selector):
        return self.evaluate("(() => { const e = document.querySelector(%s);"
                             " return e ? e.textContent : null; })()" % json.dumps(selector))

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                      timeout=30)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    # -- what went wrong -----------------------------------------------------------
    def console_problems(self, allow_http_errors=False):
        """Exceptions, console errors/warnings and browser log errors (CSP
        violations among them), as text lines. allow_http_errors leaves out
        the browser's "Failed to load resource" lines for API answers >= 400
        (expected when a test sends a wrong token)."""
        out = []
        for method, p in self.events:
            if method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s" % (d.get("exception", {}).get("description")
                                              or d.get("text")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning",
                                                                             "assert"):
                args = " ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", []))
                out.append("console.%s: %s" % (p.get("type"), args))
            elif method == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") not in ("error", "warning"):
                    continue
                if allow_http_errors and e.get("source") == "network" and \
                        "the server responded with a status of" in e.get("text", ""):
                    continue
                out.append("log %s/%s: %s %s" % (e.get("source"), e.get("level"),
                                                 e.get("text"), e.get("url", "")))
        return out

    def requests_sent(self):
        """(method, url, headers) of every request the page sent."""
        return [(p["request"]["method"], p["request"]["url"], p["request"].get("headers", {}))
                for m, p in self.events if m == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a dead socket
            pass


class Chromium:
    """A headless Chromium process with one page, started on enter, stopped
    (by pid) on exit. log_path receives Chromium's own stderr."""

    def __init__(self, log_path, width=1280, height=1400):
        self.log_path = log_path
        self.width, self.height = width, height
        self.profile = None
        self.proc = None
        self.page = None

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="sotto-chromium-")
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--user-data-dir=" + self.profile,
                # the stack's certificate is self-signed
                "--ignore-certificate-errors",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps",
                "--disable-dev-shm-usage", "--password-store=basic", "--mute-audio",
                "--window-size=%d,%d" % (self.width, self.height), "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True)
        try:
            port = self._devtools_port()
            self.page = Page(self._page_ws_url(port))
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.page.call(domain + ".enable")
            self.page.call("Emulation.setDeviceMetricsOverride", width=self.width,
                           height=self.height, deviceScaleFactor=1, mobile=False)
            self.page.call("Security.setIgnoreCertificateErrors", ignore=True)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def _devtools_port(self):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited with %s before it listened; see %s"
                               % (self.proc.returncode, self.log_path))
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except OSError:
                pass
            time.sleep(0.05)
        raise CDPError("chromium did not open its DevTools port within %ss; see %s"
                       % (START_TIMEOUT, self.log_path))

    @staticmethod
    def _page_ws_url(port):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with opener.open("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                targets = json.loads(r.read().decode())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)
        raise CDPError("chromium shows no page target")

    def __exit__(self, *exc):
        if self.page is not None:
            self.page.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None:
            # Its helper processes (zygote, renderers) share the session it
            # was started in; none should outlive it.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.contextmanager
def screenshot_page(log_path, shot):
    """A fresh headless Chromium page; when the block ends, whatever the
    outcome, a screenshot of it is saved at shot (and its path printed)."""
    with Chromium(log_path) as browser:
        try:
            yield browser.page
        finally:
            try:
                browser.page.screenshot(shot)
                print("screenshot: %s" % shot)
            except Exception as e:  # noqa: BLE001 - the test's own failure matters more
                print("could not save the screenshot %s: %s" % (shot, e))
