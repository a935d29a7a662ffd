"""The desktop client's flow against the real server started as `python main_api_app.py`."""
from pathlib import Path

import pytest
import requests

from tests.helpers.servers import GatewayProcess

pytestmark = pytest.mark.e2e
API = "/api/user/api-keys/current-user"
NO_NET = {var: "http://127.0.0.1:9" for var in (
    "OPENAI_BASE_URL", "DEEPSEEK_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL",
    "GLM_BASE_URL", "KIMI_BASE_URL", "AZURE_OPENAI_ENDPOINT")}


def test_desktop_flow_over_http(tmp_path):
    with GatewayProcess(tmp_path, NO_NET) as gw:
        s = requests.Session()
        providers = s.get(gw.base + "/api/user/api-keys/providers").json()
        assert len(providers["providers"]) == 7
        status = s.get(gw.base + API + "/status").json()
        assert status["summary"]["total_configured"] == 0
        saved = s.post(gw.base + API + "/keys/deepseek", json={"api_key": " sk-desktop-0123456789abcdef "})
        assert saved.status_code == 200 and saved.json()["success"] is True
        tested = s.post(gw.base + API + "/keys/deepseek/test")           # no body, no content type
        assert tested.status_code == 200 and tested.json()["success"] is True
        status = s.get(gw.base + API + "/status").json()
        assert status["status"]["deepseek"]["configured"] is True
        assert status["summary"]["total_configured"] == 1
        assert "message" in status["status"]["deepseek"]["test_result"]
        deleted = s.delete(gw.base + API + "/keys/deepseek")
        assert deleted.status_code == 200 and deleted.json()["success"] is True
        assert s.get(gw.base + API + "/status").json()["summary"]["total_configured"] == 0
        assert "sk-desktop-0123456789abcdef" not in gw.output()
    assert (tmp_path / "data" / "byok.db").exists()
    assert (tmp_path / "data" / "encryption.key").stat().st_mode & 0o077 == 0


def test_keys_survive_restart_without_env_key(tmp_path):
    with GatewayProcess(tmp_path, NO_NET) as gw:
        requests.post(gw.base + API + "/keys/openai", json={"api_key": "sk-restart-0123456789abcd"})
    with GatewayProcess(tmp_path, NO_NET) as gw:
        keys = requests.get(gw.base + API + "/keys").json()
        assert keys["api_keys"] == {"openai": "sk-...abcd"}


def test_malformed_key_stops_startup_with_clear_message(tmp_path):
    gw = GatewayProcess(tmp_path, {**NO_NET, "BYOK_ENCRYPTION_KEYS": "not-a-fernet-key"})
    with pytest.raises(RuntimeError) as info:
        gw.__enter__()
    assert "not a valid Fernet key" in str(info.value)
    gw.__exit__(None, None, None)


def test_the_master_process_stays_lean_and_workers_load_the_app(tmp_path):
    def native_modules(pid: int) -> str:
        return Path(f"/proc/{pid}/maps").read_text()
    with GatewayProcess(tmp_path, NO_NET) as gw:
        master, *workers = gw.pids()
        assert workers, "gunicorn forked no worker"
        # orjson and cryptography are native extensions the app imports: visible in a process's maps.
        assert "orjson" not in native_modules(master) and "cryptography" not in native_modules(master)
        assert all("orjson" in native_modules(pid) for pid in workers)
