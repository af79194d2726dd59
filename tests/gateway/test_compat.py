"""The DeepL and LibreTranslate endpoints with their own client libraries, unmodified: the
translations equal those of the same segments sent as an AMQP job."""

from __future__ import annotations

import concurrent.futures
import time

import deepl
import psycopg
import pytest
import requests
from libretranslatepy import LibreTranslateAPI

from mtq.client.glossaries import admin
from mtq.core.terms.entries import TermEntry
from tests.gateway.amqp import control_messages, control_queue, reference
from tests.gateway.conftest import DATABASE_URL, Stack
from tests.harness import MtqProcess, free_port, wait_for

TEXTS = ["Hello world.", "How are you today?", "The invoice is attached."]
HTML = ["<p>Click <b>Save</b> now.</p>", "Delete the <i>old</i> files?"]


def translator(stack: Stack, key: str | None = None) -> deepl.Translator:
    return deepl.Translator(key or stack.keys["acme"], server_url=stack.base_url,
                            send_platform_info=False)


def test_the_deepl_client_translates_lists_like_amqp(stack: Stack) -> None:
    client = translator(stack)
    plain = client.translate_text(TEXTS, source_lang="EN", target_lang="DE")
    assert [r.text for r in plain] == reference(stack.amqp_url, TEXTS)
    assert {r.detected_source_lang for r in plain} == {"EN"}
    tagged = client.translate_text(HTML, source_lang="EN", target_lang="DE",
                                   tag_handling="html")
    assert [r.text for r in tagged] == reference(stack.amqp_url, HTML, markup="html")
    assert tagged[0].text.startswith("<p>") and "<b>" in tagged[0].text
    assert [lang.code for lang in client.get_source_languages()] == ["EN"]
    assert {lang.code for lang in client.get_target_languages()} == {"DE", "FR"}


def test_the_deepl_client_uses_a_stored_glossary_of_its_tenant(stack: Stack) -> None:
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        admin.create(conn, "acme", "shop", ("en", "de"), [TermEntry("invoice", "Rechnung")],
                     stack.glossary_schema)
    result = translator(stack).translate_text(TEXTS[2], source_lang="EN", target_lang="DE",
                                              glossary="shop")
    assert "Rechnung" in result.text
    assert [result.text] == reference(stack.amqp_url, [TEXTS[2]], tenant="acme",
                                      options={"glossary_id": "shop"})
    # Another tenant's key does not see acme's glossary.
    with pytest.raises(deepl.DeepLException, match="glossary"):
        translator(stack, stack.keys["globex"]).translate_text(
            TEXTS[2], source_lang="EN", target_lang="DE", glossary="shop")


def test_deepl_forms_codes_and_errors(stack: Stack) -> None:
    auth = {"Authorization": f"DeepL-Auth-Key {stack.keys['acme']}"}
    # A form body with repeated text, and a target with a variant served by its base language.
    answer = requests.post(f"{stack.base_url}/v2/translate", headers=auth, timeout=60,
                           data=[("text", TEXTS[0]), ("text", TEXTS[1]),
                                 ("source_lang", "EN"), ("target_lang", "DE-AT")])
    assert answer.status_code == 200, answer.text
    assert [t["text"] for t in answer.json()["translations"]] == reference(
        stack.amqp_url, TEXTS[:2])
    with pytest.raises(deepl.DeepLException, match="source_lang"):
        translator(stack).translate_text(TEXTS, target_lang="DE")
    with pytest.raises(deepl.AuthorizationException):
        translator(stack, "mtqk_wrong").translate_text(TEXTS, source_lang="EN",
                                                       target_lang="DE")
    answer = requests.post(f"{stack.base_url}/v2/translate", headers=auth, timeout=60,
                           json={"text": ["x"], "source_lang": "EN", "target_lang": "JA"})
    assert answer.status_code == 400 and set(answer.json()) == {"message"}


def test_libretranslate_clients_translate_like_amqp(stack: Stack) -> None:
    key = stack.keys["globex"]
    client = LibreTranslateAPI(stack.base_url + "/", api_key=key)
    assert client.translate(TEXTS[0], "en", "de") == reference(stack.amqp_url, TEXTS[:1])[0]
    assert client.languages() == [{"code": "en", "name": "English", "targets": ["de", "fr"]}]
    answer = requests.post(f"{stack.base_url}/translate", timeout=60, json={
        "q": HTML, "source": "en", "target": "de", "format": "html", "api_key": key})
    assert answer.status_code == 200, answer.text
    assert answer.json()["translatedText"] == reference(stack.amqp_url, HTML, markup="html")
    answer = requests.post(f"{stack.base_url}/translate", timeout=60, json={
        "q": "x", "source": "auto", "target": "de", "api_key": key})
    assert answer.status_code == 400 and "detect" in answer.json()["error"]
    answer = requests.post(f"{stack.base_url}/translate", timeout=60, json={
        "q": "x", "source": "en", "target": "de", "api_key": "wrong"})
    assert answer.status_code == 403 and set(answer.json()) == {"error"}


def test_timeouts_and_overload_answer_with_retry_after(stack: Stack, tmp_path: object) -> None:
    """A second replica (same database and queues) with a 2 s wait and room for one request:
    en-fr has no worker, so requests there wait."""
    port = free_port()
    replica = MtqProcess(["gateway"], {**stack.gateway.env, "MTQ_GATEWAY_PORT": str(port),
                                       "MTQ_GATEWAY_SYNC_TIMEOUT_S": "2",
                                       "MTQ_GATEWAY_MAX_WAITING": "1"},
                         stack.gateway.log_path.with_name("replica.log"))
    url = f"http://127.0.0.1:{port}/v2/translate"
    auth = {"Authorization": f"DeepL-Auth-Key {stack.keys['acme']}"}
    body = {"text": ["Hello"], "source_lang": "EN", "target_lang": "FR"}
    control = control_queue(stack.amqp_url)
    replica.start()
    try:
        wait_for(lambda: replica_ready(port), 60, "the second replica ready")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(requests.post, url, json=body, headers=auth, timeout=30)
            time.sleep(0.5)
            started = time.monotonic()
            second = requests.post(url, json=body, headers=auth, timeout=30)
            assert second.status_code == 429 and second.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 1.0
            answer = first.result()
        assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
        assert set(answer.json()) == {"message"}
        # The abandoned job is cancelled, so no worker spends time on it.
        cancels = control_messages(stack.amqp_url, control)
        assert [c["type"] for c in cancels] == ["job.cancel"]
        assert cancels[0]["job_id"].startswith("deepl.")
        # The other replica answers the same keys and serves translations meanwhile.
        assert translator(stack).translate_text("Hi", source_lang="EN", target_lang="DE").text
    finally:
        replica.stop(10)


def replica_ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
