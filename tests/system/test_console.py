"""The operator console in headless Chromium, on a 3-node cluster.

Real nodes in the trial reactor on loopback (tests/support/cluster.py),
their admin endpoints serving the console; Selenium drives Debian's
chromium from a thread (``in_thread``) while the reactor serves. Each test
signs in, works through the pages as an operator would, and checks the
result through the admin API or S3 as well as on the page. On failure a
screenshot, the page's HTML and the browser's console log are saved under
the test's trial temp directory (the path is in the failure).

Skipped, with the reason, only where chromium, chromedriver or selenium
is missing (scripts/test installs them).
"""

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from twisted.trial.unittest import SkipTest, TestCase

from tests.support import browser
from tests.support.cluster import start_cluster
from tests.support.node import in_thread

MIB = 1024 * 1024
HOSTILE = "<img src=x onerror=alert(1)>"
WAIT = 30
# What creating a bucket and a key, granting it and moving objects needs.
WORKER_SCOPE = ["GetCurrentAdminTokenInfo", "ListBuckets", "GetBucketInfo", "CreateBucket",
                "ListKeys", "GetKeyInfo", "CreateKey", "AllowBucketKey"]


class AdminClient:
    """Blocking admin API v2 calls (from the test's thread)."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.token = token

    def call(self, name, query=None, body=None, token=None):
        url = f"{self.url}/v2/{name}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {token or self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, (json.loads(text) if text.strip() else None)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


class ConsoleTestCase(TestCase):
    """A 3-node cluster, a browser, and the helpers to drive the console."""

    timeout = 120

    async def setUp(self):
        reason = browser.missing()
        if reason is not None:
            raise SkipTest(reason)
        self.fixtures, self.nodes = await start_cluster(self, 3)
        first = self.fixtures[0]
        self.base = first.admin_url + "/"
        self.admin = AdminClient(first.admin_url, first.admin_token)
        self.downloads = os.path.abspath(self.mktemp())
        os.makedirs(self.downloads)
        self.driver = await in_thread(browser.start_chromium, self.downloads)
        self.addCleanup(in_thread, self.driver.quit)

    # -- running a scenario ---------------------------------------------------

    async def in_browser(self, scenario, *args):
        """Run the blocking ``scenario`` in a thread; on failure keep a
        screenshot, the page and the console log, and say where."""
        try:
            await in_thread(scenario, *args)
        except SkipTest:
            raise
        except BaseException as e:
            where = await in_thread(self.save_evidence)
            raise AssertionError(f"{type(e).__name__}: {e} (screenshot, page and console "
                                 f"log: {where})") from e
        await in_thread(self.check_console_log)

    def save_evidence(self) -> str:
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        try:
            self.driver.save_screenshot(os.path.join(base, "screenshot.png"))
            with open(os.path.join(base, "page.html"), "w") as f:
                f.write(self.driver.page_source)
            with open(os.path.join(base, "console.log"), "w") as f:
                for entry in self.driver.get_log("browser"):
                    f.write(json.dumps(entry) + "\n")
        except Exception as e:  # the evidence is a help, not the test
            with open(os.path.join(base, "evidence-error.txt"), "w") as f:
                f.write(repr(e))
        return base

    def check_console_log(self):
        """No script error and no Content-Security-Policy violation: an
        inline style or script the CSP blocked would be logged here."""
        bad = [entry["message"] for entry in self.driver.get_log("browser")
               if entry["level"] == "SEVERE"
               and ("Content Security Policy" in entry["message"]
                    or "Uncaught" in entry["message"])]
        self.assertEqual(bad, [])

    # -- page helpers (blocking: call them from the scenario's thread) ---------

    def wait(self, condition, timeout=WAIT, message=""):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition, message)

    def css(self, selector):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector, timeout=WAIT):
        return self.wait(lambda d: (self.css(selector) or [None])[0], timeout,
                         f"no element {selector}")

    def page(self, name):
        """Waits until page ``name`` is drawn (its root says ready)."""
        return self.one(f"#page > div[data-page={name}][data-ready=true]")

    def go(self, name):
        self.one(f'#nav a[data-page="{name}"]').click()
        return self.page(name)

    def sign_in(self, token):
        self.driver.get(self.base)
        self.one("#token").send_keys(token)
        self.one("#sign-in-button").click()
        self.page("cluster")

    def submit(self, form_id):
        self.one(f"#{form_id} button[type=submit]").click()

    def scoped_token(self, scope, name="console test"):
        """A stored admin token with ``scope`` (CreateAdminToken), or
        ``None`` where this node has no admin tokens yet."""
        status, answer = self.admin.call("CreateAdminToken", body={
            "name": name, "scope": scope, "neverExpires": True})
        if status == 404 and answer and answer.get("code") == "NoSuchEndpoint":
            return None
        self.assertEqual(status, 200, answer)
        return answer["secretToken"]


class ConsoleObjectTests(ConsoleTestCase):

    async def test_bucket_key_upload_download_delete(self):
        """Sign in with a scoped token (only the endpoints this needs: the
        console's other calls are refused and its pages say so), create a
        bucket and a key, grant it read/write/owner in the matrix,
        upload a 12 MiB file through the page (in parts, with progress), see
        it listed, download it with the page's link and compare the bytes,
        delete it."""
        source = os.path.join(os.path.abspath(self.mktemp()), "big.bin")
        os.makedirs(os.path.dirname(source))
        data = os.urandom(12 * MIB)
        with open(source, "wb") as f:
            f.write(data)
        await self.in_browser(self._round_trip, source, data)

    def _round_trip(self, source, data):
        from selenium.webdriver.support.ui import Select

        token = self.scoped_token(WORKER_SCOPE)
        if token is None:
            raise SkipTest("scoped admin tokens (CreateAdminToken) are not built yet")
        self.sign_in(token)

        # A bucket.
        self.go("buckets")
        self.one("#new-bucket-name").send_keys("photos")
        self.submit("create-bucket")
        row = self.one('#buckets tr[data-name="photos"]')
        bucket_id = row.get_attribute("data-bucket")
        self.assertIn("Bucket photos created.", self.one("#flash").text)

        # A key, its secret shown once, granted on the bucket.
        self.go("keys")
        self.one("#new-key-name").send_keys("uploader")
        self.submit("create-key")
        key_id = self.one("#created-key-id").text
        self.assertRegex(self.one("#created-key-secret").text, r"^[0-9a-f]{64}$")
        for perm in ("read", "write", "owner"):
            box = self.one(f'#permissions input[data-key="{key_id}"]'
                           f'[data-bucket="{bucket_id}"][data-perm="{perm}"]')
            box.click()
            self.wait(lambda d, box=box: box.get_attribute("data-saved") == "true")
        status, info = self.admin.call("GetBucketInfo", {"id": bucket_id})
        self.assertEqual([(k["accessKeyId"], k["permissions"]) for k in info["keys"]],
                         [(key_id, {"read": True, "write": True, "owner": True})])

        # Upload 12 MiB: more than one part.
        self.go("objects")
        Select(self.one("#objects-bucket")).select_by_value(bucket_id)
        self.one(f'#objects-key option[value="{key_id}"]')
        Select(self.one("#objects-key")).select_by_value(key_id)
        self.one("#objects-open").click()
        self.one("#listing[data-loaded]")
        self.one("#upload-file").send_keys(source)
        self.one("#upload-start").click()
        self.one("#upload-status[data-done=true]", timeout=90)
        progress = self.one("#upload-progress")
        self.assertEqual(progress.get_attribute("value"), progress.get_attribute("max"))
        row = self.one('#objects tr.object[data-key="big.bin"]')
        self.assertIn("12.0 MiB", row.text)
        etag = row.find_element("css selector", "td.mono").text
        self.assertTrue(etag.endswith('-2"'), f"not a 2-part upload: {etag}")

        # Download with the page's own link; the same bytes come back.
        row.find_element("css selector", "a.download").click()
        target = os.path.join(self.downloads, "big.bin")
        self.wait(lambda d: os.path.exists(target) and os.path.getsize(target) == len(data)
                  and not os.path.exists(target + ".crdownload"), 60, "no download")
        with open(target, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             hashlib.sha256(data).hexdigest())

        # Delete it (the button asks twice).
        delete = row.find_element("css selector", "button.delete-object")
        delete.click()
        delete.click()
        self.one("#objects-empty")
        self.assertEqual(self.css('#objects tr.object[data-key="big.bin"]'), [])
        status, info = self.admin.call("GetBucketInfo", {"id": bucket_id})
        self.assertEqual((info["objects"], info["bytes"]), (0, 0))

    async def test_hostile_names_render_as_text(self):
        """An object key and an access key name ``<img src=x
        onerror=alert(1)>`` show as those characters: no element made of
        them, no alert."""
        fixture = self.fixtures[0]
        key = await fixture.create_key(HOSTILE)
        await fixture.create_bucket("hostile", key)
        client = fixture.boto3_client(key)
        self.addCleanup(client.close)
        await in_thread(client.put_object, Bucket="hostile", Key=HOSTILE, Body=b"x")
        status, info = await in_thread(self.admin.call, "GetBucketInfo",
                                       {"globalAlias": "hostile"})
        await self.in_browser(self._hostile, info["id"], key.key_id)

    def _hostile(self, bucket_id, key_id):
        from selenium.common.exceptions import NoAlertPresentException

        self.sign_in(self.admin.token)
        self.driver.get(f"{self.base}#/objects?bucket={bucket_id}&key={key_id}&prefix=")
        self.page("objects")
        name = self.one("#objects tr.object .object-name")
        self.assertEqual(name.text, HOSTILE)
        name.click()
        self.assertEqual(self.one("#object-details .object-key").text, HOSTILE)
        self.go("keys")
        row = self.one(f'#keys tr[data-key="{key_id}"]')
        self.assertIn(HOSTILE, row.text)
        self.go("buckets")
        self.one('#buckets tr[data-name="hostile"]')
        self.assertEqual(self.css("#page img"), [])
        with self.assertRaises(NoAlertPresentException):
            self.driver.switch_to.alert.text


class ConsoleClusterTests(ConsoleTestCase):

    async def test_layout_change_staged_reverted_and_applied(self):
        """Stage a new capacity for a node, revert it, stage it again,
        preview the moved partitions, apply version 2."""
        await self.in_browser(self._layout)

    def _layout(self):
        from selenium.webdriver.support.ui import Select

        self.sign_in(self.admin.token)
        self.assertEqual(self.one("#cluster-health .card-value").text, "healthy")
        self.assertEqual(len(self.css("#nodes tbody tr")), 3)
        node_id = self.nodes[2].node_key.node_id.hex()

        def stage(capacity_gb):
            Select(self.one("#assign-node")).select_by_value(node_id)
            zone = self.one("#assign-zone")
            zone.clear()
            zone.send_keys("zone2")
            capacity = self.one("#assign-capacity")
            capacity.clear()
            capacity.send_keys(str(capacity_gb))
            self.submit("assign-form")
            self.page("cluster")
            self.one(f'#staged-changes tr td span[title="{node_id}"]')

        stage(250)
        revert = self.one("#layout-revert")
        revert.click()
        revert.click()
        self.wait(lambda d: not self.css("#staged-changes"))
        stage(200)
        self.one("#layout-preview-button").click()
        self.wait(lambda d: "would be applied" in self.one("#layout-preview").text)
        self.assertIn("Partitions moved:", self.one("#layout-preview").text)
        self.one("#layout-apply").click()
        self.wait(lambda d: any("has been applied" in e.text for e in self.css("#flash")))
        self.assertIn("Current layout version 2", self.one("#layout-version").text)
        status, layout = self.admin.call("GetClusterLayout")
        self.assertEqual(layout["version"], 2)
        role = next(r for r in layout["roles"] if r["id"] == node_id)
        self.assertEqual(role["capacity"], 200 * 10 ** 9)

    async def test_scoped_token_refused_on_the_page(self):
        """A token whose scope lacks CreateBucket sees the refusal on the
        Buckets page, and no bucket is made."""
        await self.in_browser(self._scoped)

    def _scoped(self):
        token = self.scoped_token(["GetCurrentAdminTokenInfo", "ListBuckets",
                                   "GetBucketInfo", "GetClusterHealth"], "read only")
        if token is None:
            raise SkipTest("scoped admin tokens (CreateAdminToken) are not built yet")
        self.sign_in(token)
        self.go("buckets")
        self.one("#new-bucket-name").send_keys("not-allowed")
        self.submit("create-bucket")
        error = self.one("#page .messages .error")
        self.assertIn("Forbidden", error.text)
        self.assertIn("CreateBucket", error.text)
        status, buckets = self.admin.call("ListBuckets")
        self.assertEqual([b["globalAliases"] for b in buckets], [])

    async def test_work_and_activity_pages(self):
        """Background work lists each node's workers; Activity reads every
        node's metrics and draws its four charts; the page's SHA-256 and HMAC
        (used where WebCrypto is not offered) agree with WebCrypto's and
        Python's."""
        await self.in_browser(self._work_and_activity)

    def _work_and_activity(self):
        from selenium.webdriver.support.ui import Select

        self.sign_in(self.admin.token)
        self.go("work")
        self.assertEqual(len(self.css("#work-summary tbody tr")), 3)
        self.assertTrue(self.css("#no-block-errors"))
        self.go("activity")
        Select(self.one("#activity-interval")).select_by_value("2")
        self.wait(lambda d: len(self.css("#activity-charts svg.chart")) == 4)
        # Every node's figures, through this one (GetNodeMetrics, node=*).
        self.assertIn("of 3 nodes", self.one("#activity-status").text)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "import('./sigv4.js').then((m) => m.selfTest()).then(done, (e) => done(String(e)));")
        text = "garage \u00e9t\u00e9 " + "x" * 200
        self.assertEqual(result["sha256"], hashlib.sha256(text.encode()).hexdigest())
        self.assertEqual(result["hmac"], hmac.new(b"k" * 100, text.encode(),
                                                  hashlib.sha256).hexdigest())
        self.assertTrue(result["secure"])
        # /metrics is read generically: escaped label values, a counter
        # exposed with _total, histogram buckets up to +Inf.
        text = ('# HELP api_s3_request_counter Requests.\n'
                '# TYPE api_s3_request_counter counter\n'
                'api_s3_request_counter_total{api_endpoint="Get\\"Obj\\\\ect",'
                'status_class="2xx"} 3\n'
                'api_s3_request_counter_created{api_endpoint="x"} 1.7e9\n'
                'd_bucket{le="0.1",a="1"} 2\nd_bucket{le="0.2",a="1"} 4\n'
                'd_bucket{le="+Inf",a="1"} 4\n')
        parsed = self.driver.execute_async_script(
            "const [text, done] = arguments;"
            "import('./prom.js').then((m) => { const p = m.parsePrometheus(text); done({"
            "  labels: p.get('api_s3_request_counter_total')[0].labels,"
            "  total: m.sum(m.pick(p, ['api_s3_request_counter'])),"
            "  p50: m.quantile(0.5, [[0.1, 0], [0.2, 0], [Infinity, 0]], m.buckets(p, 'd'))});"
            "}, (e) => done(String(e)));", text)
        self.assertEqual(parsed, {
            "labels": {"api_endpoint": 'Get"Obj\\ect', "status_class": "2xx"},
            "total": 3, "p50": 0.1})
        self.assertEqual((result["sha256Subtle"], result["hmacSubtle"]),
                         (result["sha256"], result["hmac"]))
