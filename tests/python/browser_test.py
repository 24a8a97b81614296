"""`w2v serve` in a real browser: headless Debian chromium driven by selenium.

Trains a small model with the release binary in a temp dir, starts
`w2v serve` on a free loopback port, and drives the page: autocomplete,
neighbours (checked against the JSON API and `w2v neighbors --json`),
similarity, analogy (checked against `w2v analogy --json`), the map (a click
on a point must recentre it), the training curves, an unknown word; then
saves a screenshot (to $W2V_SCREENSHOT, else into the temp dir).

No browser (chromium + chromedriver) or no selenium: prints SKIP and exits 0,
unless W2V_REQUIRE_BROWSER=1 (set by `make test` when `make setup` installed
the browser), where that is a failure. Exits non-zero on any failure.
Run by `make test`.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("W2V_BIN", os.path.join(ROOT, "target", "release", "w2v"))
REQUIRE = os.environ.get("W2V_REQUIRE_BROWSER") == "1"


def skip_or_fail(why):
    if REQUIRE:
        print(f"FAIL: W2V_REQUIRE_BROWSER=1 but {why}")
        sys.exit(1)
    print(f"SKIP: browser test not run: {why} (run `make setup` as root to install Debian's chromium and chromium-driver)")
    sys.exit(0)


def find_browser():
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip_or_fail("python package selenium is not installed in the venv")
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        skip_or_fail(f"chromium={browser or 'missing'}, chromedriver={driver or 'missing'}")
    return browser, driver


def w2v(cwd, *args):
    r = subprocess.run([BIN, *args, "--progress", "silent"], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"w2v {args} failed: {r.stderr}")
    return r.stdout


def train(d):
    w2v(d, "synth", "--out", "data/sample.txt", "--bytes", "600000", "--seed", "7")
    w2v(d, "prep", "data/sample.txt", "-o", "data/corpus.txt")
    w2v(d, "pairs", "--epochs", "1", "--shard-size", "400000")
    w2v(d, "train", "--engine", "native", "--dim", "24", "--epochs", "1", "-o", "model")


def start_server(d):
    p = subprocess.Popen([BIN, "serve", "--model", "model", "--addr", "127.0.0.1:0", "--progress", "silent"],
                         cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        raise AssertionError(f"w2v serve did not start: {line!r} {p.stderr.read()}")
    return p, line.split("listening on", 1)[1].strip().rstrip("/")


def get(url, path, **params):
    with urllib.request.urlopen(url + path + "?" + urllib.parse.urlencode(params), timeout=30) as r:
        return json.load(r)


def main():
    browser, driver_path = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    d = tempfile.mkdtemp(prefix="w2v-browser-")
    server = None
    drv = None
    try:
        train(d)
        words = open(os.path.join(d, "model", "words.txt"), encoding="utf-8").read().splitlines()
        rank = {w: i for i, w in enumerate(words)}
        server, url = start_server(d)

        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for f in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1300",
                  f"--user-data-dir={os.path.join(d, 'chromium-profile')}"):
            opts.add_argument(f)
        drv = webdriver.Chrome(service=Service(driver_path), options=opts)
        wait = WebDriverWait(drv, 30)
        drv.get(url + "/")
        wait.until(lambda b: b.find_element(By.ID, "model-info").text.strip() != "")
        assert str(len(words)) in drv.find_element(By.ID, "model-info").text.replace(",", "").replace("\u00a0", "").replace(" ", ""), \
            drv.find_element(By.ID, "model-info").text

        # A frequent word with an е, typed in upper case with ё: the server
        # normalizes it as prep did (ё folded, lowercased).
        word = next(w for w in words[5:200] if "е" in w and w.isalpha())
        typed = word.upper().replace("Е", "Ё", 1)
        q = drv.find_element(By.ID, "q")

        # Autocomplete: typed prefix, completions in frequency order.
        q.send_keys(typed[:2])
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#suggest li")) > 0)
        got = [li.get_attribute("data-word") for li in drv.find_elements(By.CSS_SELECTOR, "#suggest li")]
        prefix = word[:2]
        want = [w for w in words if w.startswith(prefix)][: len(got)]
        assert got == want, (got, want)

        # Neighbours: type the word, submit, compare with the API and the CLI.
        q.send_keys(Keys.CONTROL, "a")
        q.send_keys(typed)
        q.send_keys(Keys.ESCAPE)
        drv.find_element(By.ID, "go").click()
        wait.until(lambda b: b.find_element(By.ID, "nb-title").get_attribute("data-word") == word)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#neighbors li.hit")) == 10)
        dom = [li.get_attribute("data-word") for li in drv.find_elements(By.CSS_SELECTOR, "#neighbors li.hit")]
        api = [h["word"] for h in get(url, "/api/neighbors", word=typed, k=10)["neighbors"]]
        cli = [h["word"] for h in json.loads(w2v(d, "neighbors", word, "-k", "10", "--json"))[0]["neighbors"]]
        assert dom == api == cli, (dom, api, cli)
        bars = drv.find_elements(By.CSS_SELECTOR, "#neighbors li.hit .bar span")
        assert len(bars) == 10 and all(b.size["width"] > 0 for b in bars[:3]), [b.size for b in bars]

        # Similarity.
        a, b = words[10], words[11]
        drv.find_element(By.ID, "sim-a").send_keys(a)
        drv.find_element(By.ID, "sim-b").send_keys(b.upper())
        drv.find_element(By.ID, "sim-go").click()
        wait.until(lambda br: br.find_element(By.ID, "sim-out").get_attribute("data-value"))
        s = float(drv.find_element(By.ID, "sim-out").get_attribute("data-value"))
        want_s = get(url, "/api/similarity", a=a, b=b)["similarity"]
        assert abs(s - want_s) < 1e-6, (s, want_s)

        # Analogy: the DOM list equals `w2v analogy --json`.
        x, y, z = words[20], words[30], words[40]
        for fid, v in (("an-a", x), ("an-b", y), ("an-c", z)):
            drv.find_element(By.ID, fid).send_keys(v)
        drv.find_element(By.ID, "an-go").click()
        wait.until(lambda br: len(br.find_elements(By.CSS_SELECTOR, "#an-out li.hit")) == 10)
        dom = [li.get_attribute("data-word") for li in drv.find_elements(By.CSS_SELECTOR, "#an-out li.hit")]
        cli = [h["word"] for h in json.loads(w2v(d, "analogy", x, y, z, "-k", "10", "--json"))]
        assert dom == cli, (dom, cli)

        # Map: centred on the word, 31 points; clicking another recentres it.
        wait.until(lambda br: br.find_element(By.ID, "map").get_attribute("data-center") == word)
        pts = drv.find_elements(By.CSS_SELECTOR, "#map g.pt")
        assert len(pts) == 31, len(pts)
        assert len(drv.find_elements(By.CSS_SELECTOR, "#map g.pt.center")) == 1
        target = next(p for p in pts if p.get_attribute("data-word") != word)
        new = target.get_attribute("data-word")
        # Another point's label can lie over this circle (the labels are
        # clickable too), so the click is sent to the circle itself.
        drv.execute_script(
            "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            target.find_element(By.TAG_NAME, "circle"),
        )
        wait.until(lambda br: br.find_element(By.ID, "map").get_attribute("data-center") == new)
        wait.until(lambda br: br.find_element(By.ID, "nb-title").get_attribute("data-word") == new)
        center = drv.find_element(By.CSS_SELECTOR, "#map g.pt.center").get_attribute("data-word")
        assert center == new, (center, new)
        assert drv.find_element(By.ID, "q").get_attribute("value") == new

        # Curves: drawn from train.jsonl when training logged one; without
        # one the page says so, and a log written then is drawn on reload.
        log = os.path.join(d, "model", "train.jsonl")
        had_log = os.path.exists(log)
        state = lambda br: br.find_element(By.ID, "curves").get_attribute("data-state")  # noqa: E731
        wait.until(state)
        assert state(drv) == ("loaded" if had_log else "absent"), (state(drv), had_log)
        if not had_log:
            with open(log, "w") as f:
                f.write(json.dumps({"kind": "start", "resumed": False, "seed": 1, "config": {}}) + "\n")
                for i in range(1, 41):
                    f.write(json.dumps({"kind": "block", "epoch": 1 + i // 20, "pairs_seen": i * 50000, "elapsed_s": i * 0.5,
                                        "loss": 4.0 / (1 + i / 10), "lr": 0.025 * (1 - i / 41), "pairs_per_s": 1e5 + i * 1e3}) + "\n")
                for e in (1, 2):
                    f.write(json.dumps({"kind": "eval", "epoch": e, "pairs_seen": e * 1e6, "set": "hj.csv",
                                        "spearman": 0.2 * e, "coverage": [300, 398]}) + "\n")
            drv.get(url + "/?word=" + urllib.parse.quote(word))
            wait.until(lambda br: state(br) == "loaded")
            wait.until(lambda br: br.find_element(By.ID, "map").get_attribute("data-center") == word)
        charts = drv.find_elements(By.CSS_SELECTOR, "#curves .chart svg")
        assert len(charts) >= 3, len(charts)
        n_points = [int(c.get_attribute("data-points")) for c in charts[:3]]
        assert all(n > 0 for n in n_points), n_points
        assert len(drv.find_elements(By.CSS_SELECTOR, "#curves .chart svg path")) >= 3

        # An unknown word: an error with suggestions, no neighbours.
        q = drv.find_element(By.ID, "q")
        q.send_keys(Keys.CONTROL, "a")
        q.send_keys(word + "ъъ")
        q.send_keys(Keys.ESCAPE)
        drv.find_element(By.ID, "go").click()
        wait.until(lambda br: "not in vocabulary" in br.find_element(By.ID, "nb-error").text)
        assert not drv.find_elements(By.CSS_SELECTOR, "#neighbors li.hit")
        assert word in [a.text for a in drv.find_elements(By.CSS_SELECTOR, "#nb-error a.suggestion")]

        # Back to the word for the screenshot.
        drv.find_elements(By.CSS_SELECTOR, "#nb-error a.suggestion")[0].click()
        wait.until(lambda br: len(br.find_elements(By.CSS_SELECTOR, "#neighbors li.hit")) == 10)
        wait.until(lambda br: br.find_element(By.ID, "map").get_attribute("data-center") == word)
        shot = os.environ.get("W2V_SCREENSHOT") or os.path.join(d, "serve.png")
        assert drv.save_screenshot(shot), shot
        assert os.path.getsize(shot) > 20000, os.path.getsize(shot)
        print(f"browser test passed ({browser}); screenshot: {shot}")
    finally:
        if drv is not None:
            drv.quit()
        if server is not None:
            server.kill()
            server.wait()
        if not os.environ.get("W2V_KEEP"):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
