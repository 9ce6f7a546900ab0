"""labkit.browser without a browser: where Chromium is missing and cannot be installed, the reason (the browser
ring skips with it); where it is missing and this user is root, Debian's package is installed with apt-get."""
import pytest

from labkit import browser

pytestmark = pytest.mark.unit


def test_missing_and_not_root_says_how_to_install(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)
    with pytest.raises(browser.BrowserUnavailable, match="apt-get install -y chromium"):
        browser.find_chromium()
    with pytest.raises(browser.BrowserUnavailable, match="not installed"):
        browser.find_chromium(install=False)


def test_missing_as_root_installs_debians_package(monkeypatch):
    ran = []
    installed = {"chromium": None}
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get"
                        else installed.get(name))
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)

    def run(cmd, **kw):
        ran.append(cmd)
        if "install" in cmd:
            installed["chromium"] = "/usr/bin/chromium"
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(browser.subprocess, "run", run)
    assert browser.find_chromium() == "/usr/bin/chromium"
    assert ran[-1][-1] == "chromium" and "DPkg::Lock::Timeout=600" in ran[-1]


def test_a_failed_install_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)
    monkeypatch.setattr(browser.subprocess, "run",
                        lambda cmd, **kw: type("Done", (), {"returncode": 100, "stderr": "E: no network"})())
    with pytest.raises(browser.BrowserUnavailable, match="no network"):
        browser.find_chromium()
