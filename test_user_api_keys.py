"""ATOM contract §6: the original module API and catalogue, re-expressed as our own tests."""
import os
import tempfile
import unittest
from unittest.mock import patch

from user_api_key_routes import AVAILABLE_AI_PROVIDERS
from user_api_key_service import UserAPIKeyService

SIX_FIELDS = ("name", "description", "acquisition_url", "expected_format", "capabilities", "models")
FAKE_KEYS = {
    "openai": "sk-test-key-123456789",
    "deepseek": "sk-deepseek-test-123456",
    "anthropic": "sk-ant-test-123456789",
    "google_gemini": "AIzaTestKey123456789",
    "glm_4_6": "glm-test-key-123456789",
    "kimi_k2": "sk-kimi-test-123456789",
}
EXPECTED_FORMATS = {
    "openai": "sk-...", "deepseek": "sk-...", "anthropic": "sk-ant-...", "google_gemini": "AIza...",
    "azure_openai": "Azure API key + endpoint", "glm_4_6": "glm-...", "kimi_k2": "sk-...",
}


class VaultTestCase(unittest.TestCase):
    """Each test gets an existing, empty database file, passed positionally, as ATOM's did."""

    user = "test_user_123"

    def setUp(self):
        handle = tempfile.NamedTemporaryFile(suffix=".db", delete=False)
        handle.close()
        self.db_path = handle.name
        self.service = UserAPIKeyService(self.db_path)

    def tearDown(self):
        self.service.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db_path + suffix):
                os.unlink(self.db_path + suffix)


class TestUserAPIKeyService(VaultTestCase):
    """The service's public and private methods."""

    def test_encrypt_decrypt_round_trip(self):
        token = self.service._encrypt_key("sk-roundtrip-0001")
        self.assertIsInstance(token, str)
        self.assertNotEqual(token, "sk-roundtrip-0001")
        self.assertNotIn("roundtrip", token)
        self.assertEqual(self.service._decrypt_key(token), "sk-roundtrip-0001")

    def test_decrypt_of_garbage_raises(self):
        with self.assertRaises(Exception):
            self.service._decrypt_key("not-a-token")

    def test_save_returns_true_for_each_provider(self):
        for provider, key in FAKE_KEYS.items():
            self.assertIn(provider, AVAILABLE_AI_PROVIDERS)
            self.assertTrue(self.service.save_api_key(self.user, provider, key), provider)

    def test_get_returns_saved_key(self):
        self.service.save_api_key(self.user, "openai", FAKE_KEYS["openai"])
        self.assertEqual(self.service.get_api_key(self.user, "openai"), FAKE_KEYS["openai"])

    def test_get_missing_key_is_none(self):
        self.assertIsNone(self.service.get_api_key(self.user, "nonexistent_provider"))

    def test_delete_removes_key(self):
        self.service.save_api_key(self.user, "deepseek", FAKE_KEYS["deepseek"])
        self.assertEqual(self.service.get_api_key(self.user, "deepseek"), FAKE_KEYS["deepseek"])
        self.assertTrue(self.service.delete_api_key(self.user, "deepseek"))
        self.assertIsNone(self.service.get_api_key(self.user, "deepseek"))

    def test_delete_of_missing_key_still_true(self):
        self.assertTrue(self.service.delete_api_key(self.user, "openai"))

    def test_list_user_services(self):
        for provider in ("openai", "deepseek", "glm_4_6", "kimi_k2"):
            self.service.save_api_key(self.user, provider, FAKE_KEYS[provider])
        services = self.service.list_user_services(self.user)
        self.assertEqual(services, sorted(["openai", "deepseek", "glm_4_6", "kimi_k2"]))
        self.assertNotIn("nonexistent_provider", services)

    def test_get_all_user_keys_is_plaintext(self):
        for provider in ("openai", "deepseek", "glm_4_6", "kimi_k2"):
            self.service.save_api_key(self.user, provider, FAKE_KEYS[provider])
        keys = self.service.get_all_user_keys(self.user)
        for provider in ("openai", "deepseek", "glm_4_6", "kimi_k2"):
            self.assertEqual(keys[provider], FAKE_KEYS[provider])

    def test_update_replaces_key_and_keeps_created_at(self):
        self.service.save_api_key(self.user, "openai", FAKE_KEYS["openai"])
        created = self.service.record(self.user, "openai").created_at
        self.assertTrue(self.service.save_api_key(self.user, "openai", "sk-new-key-987654321"))
        self.assertEqual(self.service.get_api_key(self.user, "openai"), "sk-new-key-987654321")
        self.assertEqual(self.service.record(self.user, "openai").created_at, created)

    def test_glm_key_test_goes_through_patched_handler(self):
        with patch("glm_46_handler_real.GLM46ServiceReal.test_connection") as check:
            check.return_value = {"success": True, "message": "GLM-4.6 API connection successful"}
            self.service.save_api_key(self.user, "glm_4_6", FAKE_KEYS["glm_4_6"])
            result = self.service.test_api_key(self.user, "glm_4_6")
        check.assert_called_once()
        self.assertTrue(result["success"])
        self.assertIn("successful", result["message"].lower())

    def test_kimi_key_test_goes_through_patched_handler(self):
        with patch("kimi_k2_handler_real.KimiK2ServiceReal.test_connection") as check:
            check.return_value = {"success": True, "message": "Kimi K2 API connection successful"}
            self.service.save_api_key(self.user, "kimi_k2", FAKE_KEYS["kimi_k2"])
            result = self.service.test_api_key(self.user, "kimi_k2")
        check.assert_called_once()
        self.assertTrue(result["success"])
        self.assertIn("successful", result["message"].lower())

    def test_handler_receives_the_users_key(self):
        seen = {}

        def fake_check(handler):
            seen["key"] = handler.api_key
            return {"success": True, "message": "ok successful"}

        with patch("glm_46_handler_real.GLM46ServiceReal.test_connection", fake_check):
            self.service.save_api_key(self.user, "glm_4_6", FAKE_KEYS["glm_4_6"])
            self.service.test_api_key(self.user, "glm_4_6")
        self.assertEqual(seen["key"], FAKE_KEYS["glm_4_6"])

    def test_unsupported_service_reports_failure(self):
        result = self.service.test_api_key(self.user, "unsupported_service")
        self.assertFalse(result["success"])
        message = result["message"].lower()
        self.assertTrue("not supported" in message or "no api key found" in message)

    def test_empty_key_round_trips(self):
        self.assertTrue(self.service.save_api_key(self.user, "openai", ""))
        self.assertEqual(self.service.get_api_key(self.user, "openai"), "")

    def test_new_instance_on_same_path_reads_keys(self):
        self.service.save_api_key(self.user, "openai", FAKE_KEYS["openai"])
        other = UserAPIKeyService(self.db_path)
        try:
            self.assertEqual(other.get_api_key(self.user, "openai"), FAKE_KEYS["openai"])
        finally:
            other.engine.dispose()

    def test_new_instance_reads_keys_with_env_key_set(self):
        from cryptography.fernet import Fernet
        with patch.dict(os.environ, {"ATOM_OAUTH_ENCRYPTION_KEY": Fernet.generate_key().decode()}):
            first = UserAPIKeyService(self.db_path)
            first.save_api_key(self.user, "kimi_k2", FAKE_KEYS["kimi_k2"])
            second = UserAPIKeyService(self.db_path)
            self.assertEqual(second.get_api_key(self.user, "kimi_k2"), FAKE_KEYS["kimi_k2"])
        first.engine.dispose()
        second.engine.dispose()

    def test_ciphertext_not_stored_in_plaintext(self):
        self.service.save_api_key(self.user, "openai", "sk-plaintext-canary-0123456789")
        self.service.engine.dispose()
        with open(self.db_path, "rb") as handle:
            data = handle.read()
        for suffix in ("-wal",):
            if os.path.exists(self.db_path + suffix):
                data += open(self.db_path + suffix, "rb").read()
        self.assertNotIn(b"plaintext-canary", data)


class TestAvailableProviders(unittest.TestCase):
    """The catalogue keeps the contract's ids, fields and values."""

    def test_ids_in_contract_order(self):
        self.assertEqual(list(AVAILABLE_AI_PROVIDERS)[:7], [
            "openai", "deepseek", "anthropic", "google_gemini", "azure_openai", "glm_4_6", "kimi_k2"])

    def test_glm_entry(self):
        glm = AVAILABLE_AI_PROVIDERS["glm_4_6"]
        self.assertTrue(all(f in glm for f in SIX_FIELDS))
        self.assertEqual(glm["name"], "GLM-4.6 (Zhipu AI)")
        self.assertIn("Chinese", glm["description"])
        self.assertIn("chat", glm["capabilities"])
        self.assertIn("glm-4.6", glm["models"])

    def test_kimi_entry(self):
        kimi = AVAILABLE_AI_PROVIDERS["kimi_k2"]
        self.assertTrue(all(f in kimi for f in SIX_FIELDS))
        self.assertEqual(kimi["name"], "Kimi K2 (Moonshot AI)")
        self.assertIn("Long-context", kimi["description"])
        self.assertIn("long_context", kimi["capabilities"])
        self.assertIn("moonshot", kimi["models"][0])

    def test_original_five_present(self):
        for provider in ("openai", "deepseek", "anthropic", "google_gemini", "azure_openai"):
            self.assertIn(provider, AVAILABLE_AI_PROVIDERS)
            self.assertTrue(all(f in AVAILABLE_AI_PROVIDERS[provider] for f in SIX_FIELDS))

    def test_every_entry_complete_with_list_fields(self):
        for provider, info in AVAILABLE_AI_PROVIDERS.items():
            for field in SIX_FIELDS:
                self.assertIsNotNone(info.get(field), f"{provider}.{field}")
            self.assertIsInstance(info["capabilities"], list)
            self.assertIsInstance(info["models"], list)
            self.assertTrue(info["capabilities"] and info["models"], provider)

    def test_original_models_come_first(self):
        self.assertEqual(AVAILABLE_AI_PROVIDERS["openai"]["models"][:4],
                         ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "gpt-4o"])
        self.assertEqual(AVAILABLE_AI_PROVIDERS["kimi_k2"]["models"][:3],
                         ["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"])


class TestProviderIntegration(unittest.TestCase):
    """The handler modules exist under their original names."""

    @patch("glm_46_handler_real.GLM46ServiceReal")
    @patch("kimi_k2_handler_real.KimiK2ServiceReal")
    def test_handler_imports(self, kimi_mock, glm_mock):
        from glm_46_handler_real import GLM46ServiceReal
        from kimi_k2_handler_real import KimiK2ServiceReal
        self.assertTrue(callable(GLM46ServiceReal))
        self.assertTrue(callable(KimiK2ServiceReal))

    def test_expected_formats_exact(self):
        for provider, expected in EXPECTED_FORMATS.items():
            self.assertEqual(AVAILABLE_AI_PROVIDERS[provider]["expected_format"], expected)

    def test_glm_and_kimi_model_lists(self):
        for provider in ("glm_4_6", "kimi_k2"):
            models = AVAILABLE_AI_PROVIDERS[provider]["models"]
            self.assertTrue(models)
            self.assertTrue(all(isinstance(m, str) and m for m in models))
        self.assertTrue(any("glm-4" in m.lower() for m in AVAILABLE_AI_PROVIDERS["glm_4_6"]["models"]))
        self.assertTrue(any("moonshot" in m for m in AVAILABLE_AI_PROVIDERS["kimi_k2"]["models"]))


if __name__ == "__main__":
    unittest.main()
