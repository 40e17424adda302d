"""End-to-end checks with the official Anthropic Python SDK.

Run by tests/api/sdk.rs against the real proxy, which forwards to an
in-process mock upstream. The mock answers by model name:
  text      -> "Hello from the mock"
  tools     -> a get_weather tool call, or text once the tool result is in
  parallel  -> two get_weather tool calls at once
  image     -> describes whether an image reached the upstream
  ratelimit -> upstream 429
  boom      -> upstream 500
Environment: PROXY_URL, PROXY_KEY. Prints "N passed, M failed".
"""

import base64
import os
import sys
import traceback

import anthropic

BASE = os.environ["PROXY_URL"]
KEY = os.environ["PROXY_KEY"]
client = anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0, timeout=30)
bearer_client = anthropic.Anthropic(base_url=BASE, auth_token=KEY, max_retries=0, timeout=30)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a3a9b3b10000000049454e44ae426082"
    )
).decode()


def test_create_text():
    msg = client.messages.create(
        model="text", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.type == "message" and msg.role == "assistant", msg
    assert msg.model == "text", msg.model
    assert msg.id.startswith("msg_"), msg.id
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello from the mock", msg.content
    assert msg.stop_reason == "end_turn", msg.stop_reason
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, msg.usage


def test_bearer_auth():
    msg = bearer_client.messages.create(
        model="text", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "Hello from the mock"


def test_stream_final_message():
    with client.messages.stream(
        model="text",
        max_tokens=100,
        system=[{"type": "text", "text": "be nice", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Hello from the mock", texts
    assert final.content[0].text == "Hello from the mock"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def run_tool_turns(stream):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs = dict(model="tools", max_tokens=200, tools=[WEATHER_TOOL], messages=messages)
    if stream:
        with client.messages.stream(**kwargs) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(**kwargs)
    assert first.stop_reason == "tool_use", first
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather", first.content
    assert uses[0].input == {"city": "Paris"}, uses[0].input
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": uses[0].id, "content": "18C and sunny"},
                {"type": "text", "text": "thanks"},
            ],
        }
    )
    kwargs["messages"] = messages
    if stream:
        with client.messages.stream(**kwargs) as s:
            second = s.get_final_message()
    else:
        second = client.messages.create(**kwargs)
    assert second.stop_reason == "end_turn", second
    assert "18C and sunny" in second.content[0].text, second.content


def test_tool_round_trip():
    run_tool_turns(stream=False)


def test_tool_round_trip_streaming():
    run_tool_turns(stream=True)


def test_parallel_tools():
    with client.messages.stream(
        model="parallel",
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Paris and Rome?"}],
    ) as s:
        msg = s.get_final_message()
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [u.input["city"] for u in uses] == ["Paris", "Rome"], msg.content
    assert len({u.id for u in uses}) == 2
    assert msg.stop_reason == "tool_use"


def test_image():
    msg = client.messages.create(
        model="image",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}},
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert msg.content[0].text == "I see an image", msg.content


def test_authentication_error():
    bad = anthropic.Anthropic(base_url=BASE, api_key="wrong-key", max_retries=0)
    try:
        bad.messages.create(model="text", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401
        assert e.body["error"]["type"] == "authentication_error", e.body
        return
    raise AssertionError("expected AuthenticationError")


def test_internal_server_error():
    try:
        client.messages.create(model="boom", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    except anthropic.InternalServerError as e:
        assert e.status_code >= 500
        assert e.body["error"]["type"] in ("api_error", "overloaded_error"), e.body
        return
    raise AssertionError("expected InternalServerError")


def test_rate_limit_error():
    try:
        client.messages.create(model="ratelimit", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    except anthropic.RateLimitError as e:
        assert e.status_code == 429
        assert e.body["error"]["type"] == "rate_limit_error", e.body
        return
    raise AssertionError("expected RateLimitError")


def test_rate_limit_error_streaming():
    try:
        with client.messages.stream(
            model="ratelimit", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            s.get_final_message()
    except anthropic.RateLimitError:
        return
    raise AssertionError("expected RateLimitError")


def main():
    # Definition order: the error cases come last, because a 429 rests the
    # upstream key (as it should) and would fail the cases after it.
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"sdk: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
