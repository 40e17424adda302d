"""End-to-end checks with the official OpenAI Python SDK against the
gateway's OpenAI-compatible endpoints (/v1/chat/completions, /v1/responses,
/v1/models).

Run by tests/api/inbound_sdk.rs against the real proxy in front of a mock
upstream of one type (openai, openaiold, responses, gemini, claude). The mock answers
by model name, as for tests/sdk/test_sdk.py:
  text      -> "Hello from the mock"
  tools     -> a get_weather tool call, or text once the tool result is in
  image     -> describes whether an image reached the upstream
  ratelimit -> upstream 429
Environment: PROXY_URL, PROXY_KEY. Prints "N passed, M failed".
"""

import base64
import json
import os
import sys
import traceback

import openai

BASE = os.environ["PROXY_URL"] + "/v1"
KEY = os.environ["PROXY_KEY"]
client = openai.OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=30)

CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": CHAT_TOOL["function"]["parameters"],
    "strict": False,
}

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a3a9b3b10000000049454e44ae426082"
    )
).decode()


def test_chat_plain():
    c = client.chat.completions.create(model="text", messages=[{"role": "user", "content": "hi"}])
    assert c.object == "chat.completion", c
    assert c.choices[0].message.role == "assistant"
    assert c.choices[0].message.content == "Hello from the mock", c.choices[0].message
    assert c.choices[0].finish_reason == "stop", c.choices[0].finish_reason
    assert c.usage.prompt_tokens > 0 and c.usage.completion_tokens > 0, c.usage


def test_chat_stream():
    stream = client.chat.completions.create(
        model="text",
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk", chunk
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
    assert text == "Hello from the mock", text
    assert finish == "stop", finish
    assert usage is not None and usage.completion_tokens > 0, usage


def chat_tool_turns(stream):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs = dict(model="tools", tools=[CHAT_TOOL])
    if stream:
        calls, finish = {}, None
        for chunk in client.chat.completions.create(messages=messages, stream=True, **kwargs):
            for ch in chunk.choices:
                finish = ch.finish_reason or finish
                for tc in ch.delta.tool_calls or []:
                    c = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    c["id"] = tc.id or c["id"]
                    c["name"] += (tc.function.name or "") if tc.function else ""
                    c["arguments"] += (tc.function.arguments or "") if tc.function else ""
        assert finish == "tool_calls", finish
        call = calls[0]
    else:
        first = client.chat.completions.create(messages=messages, **kwargs)
        assert first.choices[0].finish_reason == "tool_calls", first
        tc = first.choices[0].message.tool_calls[0]
        call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
    assert call["name"] == "get_weather", call
    assert json.loads(call["arguments"]) == {"city": "Paris"}, call
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"})
    second = client.chat.completions.create(messages=messages, **kwargs)
    assert second.choices[0].finish_reason == "stop", second
    assert "18C and sunny" in second.choices[0].message.content, second.choices[0].message


def test_chat_tools_round_trip():
    chat_tool_turns(stream=False)


def test_chat_tools_round_trip_streaming():
    chat_tool_turns(stream=True)


def test_chat_image():
    c = client.chat.completions.create(
        model="image",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert c.choices[0].message.content == "I see an image", c.choices[0].message


def test_responses_plain():
    r = client.responses.create(model="text", input="hi", instructions="be nice", store=False)
    assert r.object == "response" and r.status == "completed", r
    assert r.id.startswith("resp_"), r.id
    assert r.output_text == "Hello from the mock", r.output
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage


def test_responses_stream():
    events = []
    with client.responses.stream(model="text", input=[{"role": "user", "content": "hi"}]) as s:
        for ev in s:
            events.append(ev.type)
        final = s.get_final_response()
    assert events[0] == "response.created", events
    assert "response.output_text.delta" in events, events
    assert events[-1] == "response.completed", events
    assert final.output_text == "Hello from the mock", final.output


def responses_tool_turns(stream):
    items = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs = dict(model="tools", tools=[RESPONSES_TOOL], store=False)
    if stream:
        with client.responses.stream(input=items, **kwargs) as s:
            for _ in s:
                pass
            first = s.get_final_response()
    else:
        first = client.responses.create(input=items, **kwargs)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather", first.output
    assert json.loads(calls[0].arguments) == {"city": "Paris"}, calls[0]
    items += [o.model_dump(exclude_none=True) for o in first.output]
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"})
    second = client.responses.create(input=items, **kwargs)
    assert second.status == "completed", second
    assert "18C and sunny" in second.output_text, second.output


def test_responses_tools_round_trip():
    responses_tool_turns(stream=False)


def test_responses_tools_round_trip_streaming():
    responses_tool_turns(stream=True)


def test_models_list():
    ids = [m.id for m in client.models.list()]
    assert ids, ids


def test_authentication_error():
    bad = openai.OpenAI(base_url=BASE, api_key="wrong-key", max_retries=0)
    try:
        bad.chat.completions.create(model="text", messages=[{"role": "user", "content": "hi"}])
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        assert e.body["code"] == "invalid_api_key", e.body
        return
    raise AssertionError("expected AuthenticationError")


def test_previous_response_id_is_a_bad_request():
    try:
        client.responses.create(model="text", input="hi", previous_response_id="resp_123")
    except openai.BadRequestError as e:
        assert "stateless" in e.message, e.message
        return
    raise AssertionError("expected BadRequestError")


def test_rate_limit_error():
    try:
        client.chat.completions.create(model="ratelimit", messages=[{"role": "user", "content": "hi"}])
    except openai.RateLimitError as e:
        assert e.status_code == 429
        return
    raise AssertionError("expected RateLimitError")


def test_rate_limit_error_responses():
    try:
        client.responses.create(model="ratelimit", input="hi")
    except openai.RateLimitError as e:
        assert e.status_code == 429
        return
    raise AssertionError("expected RateLimitError")


def main():
    # Definition order: the rate limits come last, because a 429 rests the
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
    print(f"openai sdk: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
