"""Client keys through the official Anthropic and OpenAI Python SDKs.

Run by tests/api/clients.rs. Environment: PROXY_URL; BAD_KEY (no such
client); HAIKU_KEY (a client that may only ask for claude-haiku-*);
BUDGET_KEY and BUDGET_KEY_OPENAI (clients whose daily token budget one
request spends). Prints "N passed, M failed".
"""

import os
import sys
import traceback

import anthropic
import openai

BASE = os.environ["PROXY_URL"]
results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        except Exception:  # noqa: BLE001 - every failure is reported
            results.append((name, traceback.format_exc()))
        return fn

    return wrap


def claude(key):
    return anthropic.Anthropic(base_url=BASE, api_key=key, max_retries=0, timeout=30)


def oai(key):
    return openai.OpenAI(base_url=BASE + "/v1", api_key=key, max_retries=0, timeout=30)


def ask(client, model="claude-haiku-4-5"):
    return client.messages.create(
        model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )


def chat(client, model="claude-haiku-4-5"):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )


def expect(exc, fn, needle):
    try:
        fn()
    except exc as e:
        assert needle in str(e), f"{needle!r} not in {e}"
        return e
    raise AssertionError(f"expected {exc.__name__}")


@check("anthropic: unknown key is AuthenticationError")
def _():
    e = expect(anthropic.AuthenticationError, lambda: ask(claude(os.environ["BAD_KEY"])), "invalid API key")
    assert e.status_code == 401


@check("anthropic: disallowed model is PermissionDeniedError")
def _():
    e = expect(
        anthropic.PermissionDeniedError,
        lambda: ask(claude(os.environ["HAIKU_KEY"]), "claude-sonnet-4-5"),
        "claude-haiku-*",
    )
    assert e.status_code == 403
    assert e.body["error"]["type"] == "permission_error", e.body


@check("anthropic: allowed model answers")
def _():
    m = ask(claude(os.environ["HAIKU_KEY"]))
    assert m.content[0].text, m


@check("anthropic: spent budget is RateLimitError")
def _():
    c = claude(os.environ["BUDGET_KEY"])
    ask(c)
    e = expect(anthropic.RateLimitError, lambda: ask(c), "daily token budget")
    assert e.status_code == 429
    assert e.response.headers.get("x-should-retry") == "false"


@check("openai: unknown key is AuthenticationError")
def _():
    expect(openai.AuthenticationError, lambda: chat(oai(os.environ["BAD_KEY"])), "invalid API key")


@check("openai: disallowed model is PermissionDeniedError")
def _():
    expect(
        openai.PermissionDeniedError,
        lambda: chat(oai(os.environ["HAIKU_KEY"]), "gpt-4o"),
        "may not use model",
    )


@check("openai: spent budget is RateLimitError")
def _():
    c = oai(os.environ["BUDGET_KEY_OPENAI"])
    chat(c)
    expect(openai.RateLimitError, lambda: chat(c), "daily token budget")


failed = [(n, t) for n, t in results if t]
for n, t in failed:
    print(f"FAIL {n}\n{t}")
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
