"""Browser test of the demo: what a newcomer does in the first ten minutes.

    python e2e/demo_check.py --url http://127.0.0.1:PORT --solaredge-url http://127.0.0.1:PORT/v2

Run by ``scripts/e2e`` against a demo it started (``scripts/develop``). It drives
the system's Chromium headless through Playwright and checks, as a user would:

1. the login page takes demo / sungaze and the UI loads;
2. the Sungaze integration page lists every demo entry;
3. Add integration -> Sungaze -> SolarEdge, walked to the end against the
   simulator, creates an entry (removed again afterwards);
4. a device page shows a power value that moves;
5. /energy shows solar production for today and for yesterday;
6. the Whole home device shows the combined solar, grid and battery values.

Every step saves a screenshot (``NN-step.png``) in the screenshot folder; a
failing step saves ``NN-step-FAILED.png`` and prints the page's console errors.
Not collected by pytest (no ``test_`` name, outside ``tests/``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import os
import pathlib
import re
import shutil
import sys
import time
from typing import Any

from playwright.sync_api import Page, sync_playwright

USERNAME, PASSWORD = "demo", "sungaze"
ADDED_SITE = "Cabin"  # the demo SolarEdge key's site without an entry
WHOLE_HOME = "Whole home"  # the demo's Home entry (tests/simulators/__main__.py)
TIMEOUT_MS = int(os.environ.get("SUNGAZE_E2E_TIMEOUT_MS", "60000"))


class Check:
    """The browser session and the step bookkeeping."""

    def __init__(self, page: Page, url: str, shots: pathlib.Path) -> None:
        """Remember where to go and where to save screenshots."""
        self.page = page
        self.url = url
        self.shots = shots
        self.console: list[str] = []
        self.number = 0
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))

    def _on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"{msg.type}: {msg.text}")

    def step(self, name: str, action: Callable[[], str | None]) -> None:
        """Run one step; screenshot it; on failure explain and exit."""
        self.number += 1
        label = f"{self.number:02d}-{name}"
        started = time.monotonic()
        seen = len(self.console)
        try:
            detail = action()
        except Exception as err:
            path = self.shots / f"{label}-FAILED.png"
            try:
                self.page.screenshot(path=str(path), full_page=True)
            except Exception as shot_err:  # the page may be gone
                print(f"e2e: (no screenshot: {shot_err})", file=sys.stderr)
            print(f"e2e: FAILED {label}: {err}", file=sys.stderr)
            print(f"e2e: page: {self.page.url}; screenshot: {path}", file=sys.stderr)
            errors = self.console[seen:] or self.console[-20:]
            print(f"e2e: console errors ({len(errors)}):", file=sys.stderr)
            for line in errors[-40:]:
                print(f"    {line[:500]}", file=sys.stderr)
            raise SystemExit(1) from err
        self.page.screenshot(path=str(self.shots / f"{label}.png"), full_page=True)
        took = time.monotonic() - started
        print(
            f"e2e: ok {label} ({took:.1f}s){': ' + detail if detail else ''}",
            flush=True,
        )

    def ws(self, message: dict[str, Any]) -> Any:
        """A websocket call through the logged-in frontend's own connection."""
        return self.page.evaluate(
            "msg => document.querySelector('home-assistant').hass.callWS(msg)", message
        )

    def goto(self, path: str) -> None:
        """Navigate inside the app."""
        self.page.goto(f"{self.url}{path}", wait_until="domcontentloaded")


def login(check: Check) -> str:
    """The login page takes the demo user; the UI finishes loading."""
    page = check.page
    check.goto("/")
    page.wait_for_url("**/auth/authorize**", timeout=TIMEOUT_MS)
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/auth/" not in u, timeout=TIMEOUT_MS)
    # The sidebar renders only once the frontend has its data (get_services...).
    page.get_by_role("option", name="Settings").or_(
        page.get_by_text("Settings", exact=True)
    ).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => { const h = document.querySelector('home-assistant');"
        " return h && h.hass && h.hass.services && Object.keys(h.hass.services).length > 0; }",
        timeout=TIMEOUT_MS,
    )
    return f"logged in, UI at {page.url}"


def entry_titles(check: Check) -> list[str]:
    """Titles of the Sungaze entries, as Home Assistant reports them."""
    entries = check.ws({"type": "config_entries/get", "domain": "sungaze"})
    return [entry["title"] for entry in entries]


def integration_page(check: Check) -> str:
    """The Sungaze integration page lists every demo entry."""
    titles = entry_titles(check)
    if not titles:
        raise AssertionError("Home Assistant has no Sungaze entry")
    check.goto("/config/integrations/integration/sungaze")
    for title in titles:
        check.page.get_by_text(title, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    return f"{len(titles)} entries listed: {', '.join(titles)}"


def add_solaredge(check: Check, solaredge_url: str, api_key: str) -> Callable[[], str]:
    """Add integration -> Sungaze -> SolarEdge, to the end, against the simulator."""

    def run() -> str:
        page = check.page
        _remove(check, lambda entry: entry["title"] == ADDED_SITE)  # a leftover
        before = set(entry_titles(check))
        check.goto("/config/integrations/dashboard")
        page.get_by_role("button", name="Add integration").first.click(
            timeout=TIMEOUT_MS
        )
        brands = page.locator("dialog-add-integration")
        brands.get_by_placeholder(re.compile("Search", re.I)).first.fill("Sungaze")
        brands.get_by_text("Sungaze", exact=True).first.click(timeout=TIMEOUT_MS)
        # The flow's dialog is modal: what is visible is in it.
        dialog = page
        dialog.get_by_text(re.compile(r"^\s*SolarEdge")).first.click(timeout=TIMEOUT_MS)
        dialog.locator("input[name='api_key']").first.fill(api_key)
        dialog.get_by_text("Advanced", exact=True).first.click()
        dialog.locator("input[name='url']").first.fill(solaredge_url)
        check.page.screenshot(
            path=str(check.shots / f"{check.number:02d}-add-solaredge-form.png")
        )
        dialog.get_by_role("button", name=re.compile("^(Submit|Next)$")).last.click()
        # The demo key reaches two sites; the demo has one: pick the other.
        site = dialog.get_by_text(ADDED_SITE, exact=True)
        site.first.wait_for(timeout=TIMEOUT_MS)
        check.page.screenshot(
            path=str(check.shots / f"{check.number:02d}-add-solaredge-site.png")
        )
        site.first.click()
        dialog.get_by_role("button", name=re.compile("^(Submit|Next)$")).last.click()
        # The last step: the new devices, to name and place in areas.
        dialog.get_by_text(
            re.compile("Name and assign|Created configuration|Success", re.I)
        ).first.wait_for(timeout=TIMEOUT_MS)
        check.page.screenshot(
            path=str(check.shots / f"{check.number:02d}-add-solaredge-done.png")
        )
        dialog.get_by_role("button", name=re.compile("finish$", re.I)).last.click()
        new = _remove(check, lambda entry: entry["title"] not in before)
        if not new:
            raise AssertionError("no new Sungaze entry after the flow")
        left = set(entry_titles(check))
        if left != before:
            raise AssertionError(f"the new entry was not removed: {left - before}")
        return f"created and removed {', '.join(new)}"

    return run


def _remove(check: Check, which: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Delete the Sungaze entries `which` selects; return their titles."""
    entries = check.ws({"type": "config_entries/get", "domain": "sungaze"})
    removed = []
    for entry in entries:
        if which(entry):
            check.page.evaluate(
                "id => document.querySelector('home-assistant').hass"
                ".callApi('DELETE', `config/config_entries/entry/${id}`)",
                entry["entry_id"],
            )
            removed.append(entry["title"])
    return removed


def power_moves(check: Check) -> str:
    """A device page shows a power value that changes."""
    registry = check.ws({"type": "config/entity_registry/list"})
    powers = {
        e["entity_id"]: e
        for e in registry
        if e.get("platform") == "sungaze"
        and not e.get("disabled_by")
        and e.get("device_id")
        and re.search(
            r"_(ac_power|production_power|pv_power_\d+)$", e.get("unique_id", "")
        )
    }
    if not powers:
        raise AssertionError("no Sungaze power sensor")
    first = {entity_id: _state(check, entity_id) for entity_id in powers}
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        time.sleep(3)
        for entity_id, entity in powers.items():
            now = _state(check, entity_id)
            if (
                now != first[entity_id]
                and _is_number(now)
                and _is_number(first[entity_id])
            ):
                check.goto(f"/config/devices/device/{entity['device_id']}")
                check.page.get_by_text(re.compile(r"\d\s?k?W\b")).first.wait_for(
                    timeout=TIMEOUT_MS
                )
                time.sleep(2)
                return f"{entity_id}: {first[entity_id]} W -> {now} W"
    raise AssertionError(f"none of {len(powers)} power values changed within 150 s")


def whole_home(check: Check) -> str:
    """The Whole home device page: combined solar, grid and battery, solar > 0."""
    entries = check.ws({"type": "config_entries/get", "domain": "sungaze"})
    home = next((e for e in entries if e["title"] == WHOLE_HOME), None)
    if home is None:
        raise AssertionError(f"no {WHOLE_HOME!r} entry")
    registry = check.ws({"type": "config/entity_registry/list"})
    mine = [e for e in registry if e.get("config_entry_id") == home["entry_id"]]
    solar = next(
        (e for e in mine if e["unique_id"].endswith("_production_power")), None
    )
    if solar is None:
        raise AssertionError(
            f"the Whole home has no solar power: {[e['unique_id'] for e in mine]}"
        )
    deadline = time.monotonic() + 120
    while not _is_number(value := _state(check, solar["entity_id"])):
        if time.monotonic() > deadline:
            raise AssertionError(f"the Whole home's solar power stays {value!r}")
        time.sleep(3)
    check.goto(f"/config/devices/device/{solar['device_id']}")
    page = check.page
    for name in ("Solar power", "Grid power", "Self-sufficiency"):
        page.get_by_text(name, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text(re.compile(r"\d\s?k?W\b")).first.wait_for(timeout=TIMEOUT_MS)
    time.sleep(2)
    members = len(entries) - 1
    return f"{solar['entity_id']}: {value} W from {members} entries"


def _state(check: Check, entity_id: str) -> str | None:
    result: str | None = check.page.evaluate(
        "id => { const s = document.querySelector('home-assistant').hass.states[id];"
        " return s ? s.state : null; }",
        entity_id,
    )
    return result


def _is_number(value: str | None) -> bool:
    try:
        return value is not None and float(value) > 0
    except ValueError:
        return False


def energy(check: Check) -> Callable[[], str]:
    """/energy: solar production today and yesterday (statistics and the page)."""

    def run() -> str:
        prefs = check.ws({"type": "energy/get_prefs"})
        solar = [
            s["stat_energy_from"]
            for s in prefs["energy_sources"]
            if s["type"] == "solar"
        ]
        if not solar:
            raise AssertionError("the Energy preferences have no solar source")
        zone = check.ws({"type": "get_config"})["time_zone"]
        totals = check.page.evaluate(
            """async ([ids, zone]) => {
              const hass = document.querySelector('home-assistant').hass;
              const fmt = new Intl.DateTimeFormat('en-CA', {timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit'});
              const today = fmt.format(new Date());
              const start = new Date(Date.now() - 3 * 86400e3).toISOString();
              const stats = await hass.callWS({type: 'recorder/statistics_during_period',
                start_time: start, statistic_ids: ids, period: 'hour', types: ['change']});
              const out = {};
              for (const rows of Object.values(stats)) for (const r of rows) {
                const day = fmt.format(new Date(r.start));
                out[day] = (out[day] || 0) + (r.change || 0);
              }
              return {today, days: out};
            }""",
            [solar, zone],
        )
        days = totals["days"]
        today = totals["today"]
        yesterday = sorted(d for d in days if d < today)[-1:] or ["?"]
        if days.get(today, 0) <= 0 or days.get(yesterday[0], 0) <= 0:
            raise AssertionError(
                f"no solar production today/yesterday: {json.dumps(days)}"
            )
        page = check.page
        check.goto("/energy")
        page.get_by_text(re.compile("Solar", re.I)).first.wait_for(timeout=TIMEOUT_MS)
        page.locator(
            "hui-energy-distribution-card, hui-energy-usage-graph-card"
        ).first.wait_for(timeout=TIMEOUT_MS)
        if page.get_by_text(re.compile("no data to show", re.I)).count():
            raise AssertionError("the Energy dashboard says there is no data")
        time.sleep(3)  # let the charts draw before the screenshot
        page.screenshot(
            path=str(check.shots / f"{check.number:02d}-energy-today.png"),
            full_page=True,
        )
        # Yesterday: the date picker's "previous" arrow.
        page.get_by_role("button", name=re.compile("Previous", re.I)).first.click()
        time.sleep(3)
        if page.get_by_text(re.compile("no data to show", re.I)).count():
            raise AssertionError("the Energy dashboard has no data for yesterday")
        return (
            f"solar today {days[today]:.1f}, yesterday {days[yesterday[0]]:.1f}"
            f" ({len(solar)} solar sources)"
        )

    return run


def chromium_path() -> str:
    """The system's Chromium (Playwright's own download is not used)."""
    for name in (os.environ.get("SUNGAZE_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    raise SystemExit("e2e: no chromium found (scripts/setup installs it with apt-get)")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="e2e/demo_check.py")
    parser.add_argument("--url", required=True)
    parser.add_argument("--solaredge-url", required=True)
    parser.add_argument("--solaredge-key", default="SIMULATED-KEY")
    parser.add_argument("--screenshots", default="e2e-screenshots")
    parser.add_argument("--time-zone", default=None)
    args = parser.parse_args(argv)
    shots = pathlib.Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # No user namespaces in containers/CI runners.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id=args.time_zone,
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        check = Check(page, args.url.rstrip("/"), shots)
        try:
            check.step("login", lambda: login(check))
            check.step("integration-page", lambda: integration_page(check))
            check.step(
                "add-solaredge",
                add_solaredge(check, args.solaredge_url, args.solaredge_key),
            )
            check.step("device-power", lambda: power_moves(check))
            check.step("energy", energy(check))
            check.step("whole-home", lambda: whole_home(check))
        finally:
            browser.close()
    print(
        f"e2e: all checks passed in {time.monotonic() - started:.0f}s; screenshots in {shots}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
