#!/usr/bin/env python3
"""Regenerates renders.json and constructs.json with Python jinja2 set up as
Hugging Face transformers' apply_chat_template does. Not run by the tests:
its output is committed. Usage: python3 generate.py (jinja2 3.1.x)."""
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
# strftime_now reads this fixed clock; the Go tests set the same one.
FIXED_NOW = datetime(2025, 3, 7, 14, 5, 9)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # Hugging Face's tojson: json.dumps without HTML escaping.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def env():
    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = strftime_now
    return e


def render(src, variables):
    try:
        return {"expected": env().from_string(src).render(**variables)}
    except jinja2.exceptions.TemplateError as ex:
        return {"error": f"{type(ex).__name__}: {ex}"}
    except Exception as ex:  # TypeError etc. surface as errors too
        return {"error": f"{type(ex).__name__}: {ex}"}


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello, how are you?"}
A1 = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
U2 = {"role": "user", "content": "I'd like to show off how chat templating works!"}
A2 = {"role": "assistant", "content": "  Sure: templates turn messages into one prompt.\n"}
U3 = {"role": "user", "content": "Ünïcödé \"quotes\" and 中文 and 🙂 too\n\twith a tab  "}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Zürich"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
CALL = {"role": "assistant", "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                         "arguments": {"city": "Paris", "unit": "celsius"}}}]}
TOOL_RESULT = {"role": "tool", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"}
A_AFTER = {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."}

L31 = "meta-llama-Llama-3.1-8B-Instruct.jinja"
L32 = "meta-llama-Llama-3.2-3B-Instruct.jinja"
Q25 = "Qwen-Qwen2.5-7B-Instruct.jinja"
Q3 = "Qwen-Qwen3-0.6B.jinja"
L3 = "llama3-8b-instruct.jinja"
PHI3 = "phi-3.jinja"

RENDERS = [
    # (name, template, messages, add_generation_prompt, bos, eos, extra)
    ("llama3.1/multi-turn", L31, [SYSTEM, U1, A1, U2, A2, U3], True, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("llama3.1/no-system-no-prompt", L31, [U1, A1, U2], False, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("llama3.1/date-string", L31, [SYSTEM, U1], True, "<|begin_of_text|>", "<|eot_id|>", {"date_string": "01 Jan 2026"}),
    ("llama3.1/tools-in-user-message", L31, [SYSTEM, U1, CALL, TOOL_RESULT, A_AFTER, U2], True, "<|begin_of_text|>", "<|eot_id|>",
     {"tools": [WEATHER_TOOL]}),
    ("llama3.1/tools-in-system", L31, [U1, CALL, TOOL_RESULT], True, "<|begin_of_text|>", "<|eot_id|>",
     {"tools": [WEATHER_TOOL], "tools_in_user_message": False}),
    ("llama3.1/builtin-tools", L31, [U1, {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "brave_search", "arguments": {"query": "weather in Paris"}}}]},
        {"role": "ipython", "content": {"result": "sunny"}}], True, "<|begin_of_text|>", "<|eot_id|>",
     {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
    ("llama3.1/two-tool-calls-raises", L31, [U1, {"role": "assistant", "content": "", "tool_calls": [
        CALL["tool_calls"][0], CALL["tool_calls"][0]]}], True, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("llama3.2/multi-turn", L32, [SYSTEM, U1, A1, U2, A2, U3], True, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("llama3.2/no-system", L32, [U1, A1, U2], True, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("llama3.2/date-string", L32, [U1], False, "<|begin_of_text|>", "<|eot_id|>", {"date_string": "26 Jul 2024"}),
    ("llama3.2/tools-in-system", L32, [SYSTEM, U1, CALL, TOOL_RESULT], True, "<|begin_of_text|>", "<|eot_id|>",
     {"tools": [WEATHER_TOOL], "tools_in_user_message": False}),
    ("llama3.2/tools-no-user-raises", L32, [SYSTEM], True, "<|begin_of_text|>", "<|eot_id|>", {"tools": [WEATHER_TOOL]}),
    ("qwen2.5/multi-turn", Q25, [SYSTEM, U1, A1, U2, A2, U3], True, "", "<|im_end|>", {}),
    ("qwen2.5/default-system", Q25, [U1, A1, U2], True, "", "<|im_end|>", {}),
    ("qwen2.5/default-system-user", Q25, [U1], True, "", "<|im_end|>", {}),
    ("qwen2.5/no-prompt", Q25, [U1, A1], False, "", "<|im_end|>", {}),
    ("qwen2.5/tools", Q25, [U1, CALL, TOOL_RESULT, TOOL_RESULT, A_AFTER, U2], True, "", "<|im_end|>", {"tools": [WEATHER_TOOL]}),
    ("qwen3/multi-turn", Q3, [SYSTEM, U1, A1, U2, A2, U3], True, "", "<|im_end|>", {}),
    ("qwen3/no-system", Q3, [U1, A1, U2], True, "", "<|im_end|>", {}),
    ("qwen3/thinking-history", Q3, [U1, {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHi! I am fine."}, U2,
                                    {"role": "assistant", "content": "<think>\nShow a template.\n</think>\n\nHere it is."}], False, "", "<|im_end|>", {}),
    ("qwen3/enable-thinking-false", Q3, [U1], True, "", "<|im_end|>", {"enable_thinking": False}),
    ("qwen3/enable-thinking-true", Q3, [U1], True, "", "<|im_end|>", {"enable_thinking": True}),
    ("qwen3/tools", Q3, [SYSTEM, U1, CALL, TOOL_RESULT, {"role": "assistant", "content": "Let me check twice.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}},
        {"name": "get_weather", "arguments": {"city": "Oslo"}}]}, TOOL_RESULT, TOOL_RESULT], True, "", "<|im_end|>",
     {"tools": [WEATHER_TOOL]}),
    ("llama3/bos", L3, [SYSTEM, U1, A1, U2], True, "<|begin_of_text|>", "<|eot_id|>", {}),
    ("phi3/multi-turn", PHI3, [SYSTEM, U1, A1, U2, A2, U3], False, "<s>", "<|endoftext|>", {}),
]


def gen_renders():
    out = []
    for name, tmpl, msgs, agp, bos, eos, extra in RENDERS:
        src = open(os.path.join(HERE, "templates", tmpl), encoding="utf-8").read()
        variables = {"messages": msgs, "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos,
                     "tools": None, "documents": None}
        variables.update(extra)
        case = {"name": name, "template": tmpl, "messages": msgs, "add_generation_prompt": agp,
                "bos_token": bos, "eos_token": eos, "extra": extra}
        case.update(render(src, variables))
        out.append(case)
    return out


# Construct cases: (name, template, variables). Each checks one jinja2 rule.
CONSTRUCTS = [
    # whitespace control
    ("ws/trim-blocks", "{% if true %}\nA\n{% endif %}\nB", {}),
    ("ws/trim-blocks-comment", "{# note #}\nA", {}),
    ("ws/no-trim-after-var", "{{ 'A' }}\nB", {}),
    ("ws/lstrip-blocks", "x\n    {% if true %}y{% endif %}\n  {{ 'z' }}", {}),
    ("ws/lstrip-only-blanks", "x  {% if true %}y{% endif %}", {}),
    ("ws/lstrip-at-start", "  \t{% if true %}y{% endif %}", {}),
    ("ws/lstrip-after-tag-newline", "{% if true %}\n  {% if true %}a{% endif %}{% endif %}", {}),
    ("ws/minus-left", "a  \n\n  {%- if true %}b{% endif %}", {}),
    ("ws/minus-right", "{% if true -%}  \n\n  b{% endif %}", {}),
    ("ws/minus-var", "a \n {{- 'b' -}} \n c", {}),
    ("ws/plus-keeps-lstrip", "x\n  {%+ if true %}y{% endif %}", {}),
    ("ws/plus-keeps-trim", "{% if true +%}\ny{% endif %}", {}),
    ("ws/comment-minus", "a  {#- c -#}  b", {}),
    ("ws/trailing-newline-dropped", "a\n", {}),
    ("ws/only-one-trailing-newline-dropped", "a\n\n", {}),
    ("ws/crlf-normalized", "a\r\nb\rc", {}),
    ("ws/raw", "{% raw %}{{ not parsed }}{% endraw %}\nx", {}),
    # literals and output
    ("out/none-true-false", "{{ none }} {{ true }} {{ False }}", {}),
    ("out/floats", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 1e300 * 1e10 }}", {}),
    ("out/ints", "{{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1_000 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("out/list-repr", "{{ [1, 'a', \"b'c\", none, true, 1.5, [2]] }}", {}),
    ("out/dict-repr", "{{ {'a': 1, 'b': [1, 2], 'c': {'d': none}} }}", {}),
    ("out/tuple-repr", "{{ (1,) }} {{ (1, 2) }} {{ () }}", {}),
    ("out/string-escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\x41\\u00e9\\U0001F642\\q' }}", {}),
    ("out/string-repr-quotes", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'nl\\n'] }}", {}),
    ("out/adjacent-strings", "{{ 'a' \"b\" 'c' }}", {}),
    ("out/undefined-empty", "[{{ missing }}]", {}),
    ("out/undefined-attr-of-dict", "[{{ d.missing }}]", {"d": {"a": 1}}),
    # operators
    ("op/concat", "{{ 'a' ~ 1 ~ none ~ [1] }}", {}),
    ("op/precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }}", {}),
    ("op/string-plus", "{{ 'a' + 'b' }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ [0] * 3 }}", {}),
    ("op/compare", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ 2 >= 2 }} {{ none == none }}", {}),
    ("op/in", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' not in 'xyz' }}", {}),
    ("op/and-or-values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }} {{ none or none }} {{ not 0 }} {{ not [] }}", {}),
    ("op/printf", "{{ '%s and %d' % ('a', 3.9) }} {{ '%(k)s=%(j)r' % d }} {{ '%5.2f|%-4s|%03d' % (3.14159, 'x', 7) }} {{ '%r %%' % 'q' }} {{ 'x' % [1] }}", {"d": {"k": 1, "j": "v"}}),
    ("op/ternary", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'yes' if 0 }}] {{ 'a' if 0 else 'b' if 1 else 'c' }}", {}),
    ("op/filter-binds-tighter", "{{ 'a' + '  b  ' | trim + 'c' }} {{ [1, 2, 3] | length - 1 }} {{ -3 | abs }}", {}),
    ("op/not-is", "{{ not x is defined }} {{ x is not defined }} {{ not x is none }}", {"x": None}),
    # slicing and access
    ("access/slices", "{{ 'hello'[1:] }} {{ 'hello'[::-1] }} {{ 'hello'[-3:-1] }} {{ [1, 2, 3, 4][::2] }} {{ [1, 2, 3][5:] }} {{ 'héllo'[1] }} {{ [1, 2, 3][-1] }}", {}),
    ("access/attr-and-item", "{{ m.role }} {{ m['content'] }} {{ m.get('role') }} {{ m.get('x', 'dflt') }} {{ m.get('x') }} {{ l.0 }} {{ l[1] }}", {"m": {"role": "user", "content": "hi"}, "l": ["a", "b"]}),
    ("access/out-of-range-undefined", "[{{ l[5] }}] {{ l[5] is defined }}", {"l": [1]}),
    ("access/dict-methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }} {{ d.values() | list }}", {"d": {"z": 1, "a": 2}}),
    # string methods
    ("str/strip-family", "[{{ '  a b  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.lstrip('\\n') }}][{{ 'a  '.rstrip() }}]", {}),
    ("str/startswith", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }}", {}),
    ("str/split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a</think>b</think>c'.split('</think>')[-1] }} {{ 'a b c'.rsplit(' ', 1) }}", {}),
    ("str/split-maxsplit", "{{ '  a  b  c  '.split(none, 1) }} {{ '  a  b  c  '.rsplit(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a b'.split(' ', 0) }} {{ ''.split() }} {{ ''.split(',') }} {{ 'a\nb\r\nc'.splitlines() }}", {}),
    ("str/title-digits", "{{ \"they're bill's friends from the UK 2nd-hello2world\".title() }} {{ \"they're 2nd-hello2world\" | title }}", {}),
    ("str/case", "{{ 'hello World'.upper() }} {{ 'HeLLo'.lower() }} {{ \"hello world's-x\".title() }} {{ 'hELLO'.capitalize() }}", {}),
    ("str/replace-find", "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.count('bc') }} {{ '-'.join(['a', 'b']) }}", {}),
    # filters
    ("filter/trim-length", "[{{ '  x  ' | trim }}] {{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ missing | length }}", {}),
    ("filter/case", "{{ 'abc' | upper }} {{ 'ABC' | lower }} {{ 'hello wORLD-x (y' | title }} {{ 'hELLO wORLD' | capitalize }}", {}),
    ("filter/default", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ 0 | d('z', boolean=true) }} {{ 'v' | default('d') }}", {}),
    ("filter/first-last-join", "{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'abc' | first }} {{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }} {{ users | join(', ', attribute='name') }}", {"users": [{"name": "ann"}, {"name": "bob"}]}),
    ("filter/replace-string-int", "{{ 'a-b-c' | replace('-', '+') }} {{ 'a-b-c' | replace('-', '', 1) }} {{ 42 | string }} {{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ 3 | float }} {{ '2.5' | float }}", {}),
    ("filter/items-list", "{% for k, v in d | items %}{{ k }}:{{ v }} {% endfor %}{{ 'ab' | list }} {{ d | list }}", {"d": {"b": 1, "a": [2]}}),
    ("filter/select-reject", "{{ [1, 0, 2, none] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3] | reject('equalto', 2) | list }} {{ ['a', 'b'] | reject('in', ['a']) | list }}", {}),
    ("filter/selectattr-map", "{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ ms | rejectattr('role', 'eq', 'user') | map(attribute='content') | join('|') }} {{ ms | selectattr('x') | list | length }} {{ ['a', 'b'] | map('upper') | list }} {{ ms | map(attribute='x', default='?') | list }}", {"ms": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1", "x": 1}, {"role": "user", "content": "u2"}]}),
    ("filter/sort-unique-reverse", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [1, 3, 2] | sort(reverse=true) }} {{ ms | sort(attribute='n') | map(attribute='n') | list }} {{ ['a', 'A', 'b', 'a'] | unique | list }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}", {"ms": [{"n": 2}, {"n": 1}]}),
    ("filter/min-max-sum-abs-round", "{{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ [1, 2, 3] | sum }} {{ ms | sum(attribute='n') }} {{ -4 | abs }} {{ 2.675 | round(2) }} {{ 2.5 | round }} {{ 3.14159 | round(2, 'floor') }}", {"ms": [{"n": 2}, {"n": 1}]}),
    ("filter/tojson", "{{ d | tojson }}\n{{ d | tojson(indent=2) }}\n{{ [] | tojson(indent=4) }} {{ {} | tojson }} {{ 'é\"\\n\\u0001' | tojson }} {{ 1.0 | tojson }} {{ none | tojson }} {{ (1, 2) | tojson }} {{ d | tojson(sort_keys=true) }} {{ 'é' | tojson(ensure_ascii=true) }} {{ d | tojson(separators=(',', ':')) }}", {"d": {"z": [1, 2.5, True, None], "a": {"b": "ü"}}}),
    ("filter/indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}", {}),
    ("filter/dictsort-wordcount-safe-escape", "{{ d | dictsort }} {{ d | dictsort(by='value', reverse=true) }} {{ 'a b-c d' | wordcount }} {{ '<b>' | safe }} {{ '<a href=\"x\">&' | e }}", {"d": {"b": 1, "a": 2}}),
    ("filter/attr", "{{ d | attr('missing') is defined }} {{ (d | attr('items'))() | list }}", {"d": {"missing": 1}}),
    # tests
    ("test/types", "{{ 'a' is string }} {{ 1 is string }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ x is iterable }} {{ [] is sequence }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }}", {}),
    ("test/none-true-false", "{{ none is none }} {{ 0 is none }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ x is none }} {{ x is defined }} {{ y is undefined }}", {"x": None}),
    ("test/compare-tests", "{{ 2 is eq 2 }} {{ 2 is equalto(3) }} {{ 3 is gt 2 }} {{ 2 is lt 1 }} {{ 4 is divisibleby 2 }} {{ 3 is odd }} {{ 4 is even }} {{ 2 is in [1, 2] }} {{ none is sameas none }} {{ 'abc' is lower }} {{ 'ABC' is upper }}", {}),
    ("test/callable", "{{ 'a'.upper is callable }} {{ 'a' is callable }} {{ raise_exception is callable }}", {}),
    # for loops
    ("for/loop-vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}", {}),
    ("for/previtem-nextitem-cycle", "{% for x in [1, 2, 3] %}{{ loop.previtem | default('-') }}{{ loop.nextitem | default('-') }}{{ loop.cycle('o', 'e') }} {% endfor %}", {}),
    ("for/dict-and-unpack", "{% for k in d %}{{ k }}{% endfor %} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %} {% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for/else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %} {% for x in missing %}{{ x }}{% else %}undef{% endfor %} {% for x in [1] if x > 5 %}{{ x }}{% else %}filtered{% endfor %}", {}),
    ("for/inline-if", "{% for x in range(10) if x is odd %}{{ x }}{{ '/' ~ loop.length if loop.last }}{% endfor %}", {}),
    ("for/nested-loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}", {}),
    ("for/break-continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for/string-and-range", "{% for c in 'héj' %}[{{ c }}]{% endfor %} {{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}", {}),
    ("for/scope-no-leak", "{% set x = 0 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}", {}),
    ("for/reversed-slice", "{% for m in ms[::-1] %}{{ m }}{{ loop.index0 }}{% endfor %}", {"ms": ["a", "b", "c"]}),
    # if
    ("if/elif-else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("if/set-leaks-out-of-if", "{% if true %}{% set x = 'in' %}{% endif %}{{ x }}", {}),
    # set and namespace
    ("set/basic", "{% set a = 1 %}{% set b, c = 2, 3 %}{% set t = 4, 5 %}{{ a }}{{ b }}{{ c }}{{ t }}", {}),
    ("set/shadow-context", "{% set messages = messages[1:] %}{{ messages | length }}", {"messages": [1, 2, 3]}),
    ("set/block", "{% set x %}  a {{ 1 + 1 }} {% endset %}[{{ x }}]{% set y | trim | upper %}  b  {% endset %}[{{ y }}]", {}),
    ("set/namespace", "{% set ns = namespace(n=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }} {{ ns.missing is defined }}", {}),
    ("set/namespace-from-dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    # macros
    ("macro/basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }}", {}),
    ("macro/late-binding", "{% set a = 3 %}{% macro m(b) %}{{ a }}{{ b }}{% endmacro %}{% set a = 4 %}{{ m(1) }}", {}),
    # globals
    ("global/strftime-now", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %I%p %y %%') }}", {}),
    ("global/dict", "{{ dict(a=1, b=2) }}", {}),
    # errors
    ("err/raise-exception", "line1\n{{ raise_exception('Only user and assistant roles are supported!') }}", {}),
    ("err/attr-of-undefined", "a\nb\n{{ missing.attr }}", {}),
    ("err/item-of-undefined", "{{ missing['k'] }}", {}),
    ("err/add-str-int", "{{ 'a' + 1 }}", {}),
    ("err/undefined-arith", "{{ missing + 1 }}", {}),
    ("err/unknown-filter", "{{ 1 | nosuchfilter }}", {}),
    ("err/unclosed-block", "{% if true %}a", {}),
    ("err/unclosed-tag", "{{ 1 + ", {}),
    ("err/unknown-tag", "{% frobnicate %}", {}),
    ("err/bad-endtag", "{% for x in y %}{% endif %}", {}),
    ("err/set-attr-non-namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("err/printf-too-few", "{{ '%s %s' % 'a' }}", {}),
    ("err/printf-too-many", "{{ '%s' % ('a', 'b') }}", {}),
    ("err/division-by-zero", "{{ 1 / 0 }}", {}),
    ("err/tojson-undefined", "{{ missing | tojson }}", {}),
    ("err/not-iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("err/call-non-callable", "{{ 'abc'() }}", {}),
    ("err/unbalanced-brackets", "{{ (1 ] }}", {}),
    ("err/unterminated-comment", "{# never closed", {}),
]


def gen_constructs():
    out = []
    for name, src, variables in CONSTRUCTS:
        case = {"name": name, "template": src, "vars": variables}
        case.update(render(src, variables))
        out.append(case)
    return out


# Random differential cases: three small grammars (whitespace control,
# frames and scoping, expressions) drawn with fixed seeds. Expression cases
# are kept only when jinja2 succeeds without a lazy generator or view in
# play: jinja2 defers errors inside map/select/... until iteration and
# prints generators with their memory address.
import random

WS_TEXT = ["a", "b c", " ", "  ", "\t", "\n", "\n\n", " \n ", "\t\n", "x\n  ", "\n    ", "\r\n", "\u00a0", "\x0b", "é"]


def random_ws(rnd, d=0):
    def text():
        return "".join(rnd.choice(WS_TEXT) for _ in range(rnd.randint(0, 4)))

    def tag(body):
        return "{%" + rnd.choice(["", "", "-", "+"]) + " " + body + " " + rnd.choice(["", "", "-", "+"]) + "%}"

    def node(d):
        r = rnd.random()
        if d > 2 or r < 0.3:
            return text()
        if r < 0.45:
            return "{{" + rnd.choice(["", "-"]) + " " + rnd.choice(["'v'", "x", "loop.index if loop is defined else 0", "'\\n'"]) + " " + rnd.choice(["", "-"]) + "}}"
        if r < 0.55:
            return "{#" + rnd.choice(["", "-", "+"]) + " c " + rnd.choice(["", "-", "+"]) + "#}"
        if r < 0.7:
            return tag("if " + rnd.choice(["true", "false", "x"])) + seq(d + 1) + (tag("else") + seq(d + 1) if rnd.random() < 0.5 else "") + tag("endif")
        if r < 0.82:
            return tag("for i in " + rnd.choice(["[1, 2]", "[]", "'ab'"])) + seq(d + 1) + tag("endfor")
        if r < 0.9:
            return tag("set y") + seq(d + 1) + tag("endset") + "{{ y }}"
        if r < 0.95:
            return "{%" + rnd.choice(["", "-", "+"]) + " raw " + rnd.choice(["", "-"]) + "%}" + text() + "{{ x }}" + text() + tag("endraw")
        return tag("set z = 1")

    def seq(d):
        return "".join(node(d) for _ in range(rnd.randint(1, 4)))

    return seq(0) + rnd.choice(["", "\n", "\n\n", " \n"]), {"x": "X"}


ST_MSGS = [{"role": "system", "content": "sys prompt"}, {"role": "user", "content": "hello there"},
           {"role": "assistant", "content": "hi you"}, {"role": "user", "content": "bye now"}]


def random_frames(rnd):
    def val():
        return rnd.choice(["1", "'s'", "a", "b", "m.role", "m['content']", "messages|length", "loop.index if loop is defined else -1",
                           "ns.c", "ns.c + 1", "messages[0].content", "messages[-1]['role']", "a ~ b", "(a ~ b)|length",
                           "messages|selectattr('role','equalto','user')|list|length", "messages|map(attribute='role')|join(',')",
                           "namespace(c=2).c", "messages[1:]|length", "m.content.split(' ')[0] if m is defined else 'u'",
                           "mac(a)", "loop.previtem.role if loop is defined and loop.previtem is defined else 'p'"])

    def stmt(d=0):
        r = rnd.random()
        if d > 3 or r < 0.25:
            return "{{ %s }}|" % val()
        if r < 0.4:
            return "{%% set %s = %s %%}" % (rnd.choice(["a", "b"]), val())
        if r < 0.5:
            return "{%% set ns.c = %s %%}" % rnd.choice(["ns.c + 1", "ns.c * 2", "1"])
        if r < 0.65:
            return "{%% for m in %s %%}%s%s{%% endfor %%}" % (rnd.choice(["messages", "messages[::-1]", "messages[1:]", "messages if m is not defined else []"]), stmt(d + 1), stmt(d + 1))
        if r < 0.75:
            return "{%% for m in messages if m.role != 'system' %%}%s{%% else %%}E{%% endfor %%}" % stmt(d + 1)
        if r < 0.88:
            return "{%% if %s %%}%s{%% elif %s %%}%s{%% else %%}%s{%% endif %%}" % (val() + rnd.choice([" == 1", " is defined", "", " != 's'"]), stmt(d + 1), val(), stmt(d + 1), stmt(d + 1))
        if r < 0.94:
            return "{%% set messages = messages[1:] %%}%s" % stmt(d + 1)
        return "{%% if loop is defined and loop.index > 1 %%}{%% %s %%}{%% endif %%}" % rnd.choice(["break", "continue"])

    src = ("{% macro mac(x) %}<{{ x }}{{ a }}>{% endmacro %}{% set a = 'A' %}{% set ns = namespace(c=0) %}"
           + "".join(stmt() for _ in range(rnd.randint(1, 4))) + "{{ a }}{{ b }}{{ ns.c }}")
    return src, {"messages": ST_MSGS, "b": "B"}


EX_ATOMS = ["1", "0", "-3", "2.5", "0.1", "'a'", "'Hello World'", "''", "' x '", "none", "true", "false",
            "[1, 2, 3]", "[]", "['b', 'a']", "{'k': 1, 'j': 'v'}", "{}", "(1, 'x')", "xs", "d", "s", "n", "missing",
            "msgs", "msgs[0]", "d.k", "d['j']", "s[1:]", "xs[::-1]", "xs[-1]", "n // 2"]
EX_BIN = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"]
EX_FILTERS = ["trim", "length", "upper", "lower", "first", "last", "join(',')", "list", "string", "int", "float",
              "tojson", "tojson(indent=2)", "default('D')", "sort", "capitalize", "title", "abs", "sum", "max", "min",
              "replace('a', 'b')", "dictsort", "count", "round", "wordcount"]
EX_TESTS = ["defined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float", "true",
            "false", "odd", "even", "boolean", "undefined", "callable", "eq 1", "in [1, 'a']", "divisibleby 2"]
EX_METHODS = [".strip()", ".upper()", ".split()", ".split('l')", ".startswith('H')", ".endswith('d')", ".lstrip('H')",
              ".replace('l', 'L')", ".title()", ".get('k')", ".get('z', 9)", ".find('o')"]
EX_VARS = {"xs": [3, 1, 2], "d": {"k": 1, "j": "v"}, "s": "Hello World", "n": 7,
           "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def random_expr(rnd):
    def expr(depth=0):
        r = rnd.random()
        if depth > 2 or r < 0.3:
            return rnd.choice(EX_ATOMS)
        if r < 0.5:
            return "(%s %s %s)" % (expr(depth + 1), rnd.choice(EX_BIN), expr(depth + 1))
        if r < 0.65:
            return "%s | %s" % (expr(depth + 1), rnd.choice(EX_FILTERS))
        if r < 0.75:
            return "(%s is %s%s)" % (expr(depth + 1), rnd.choice(["", "not "]), rnd.choice(EX_TESTS))
        if r < 0.85:
            return "%s%s" % (rnd.choice(["s", "'Hello World'", "d", "msgs[0]"]), rnd.choice(EX_METHODS))
        if r < 0.92:
            return "(%s if %s else %s)" % (expr(depth + 1), expr(depth + 1), expr(depth + 1))
        return "not %s" % expr(depth + 1)

    return "".join("{{ %s }}|" % expr() for _ in range(rnd.randint(1, 3))), EX_VARS


def gen_random():
    out = []
    for kind, fn, n, seed in (("ws", random_ws, 300, 101), ("frames", random_frames, 300, 102), ("expr", random_expr, 400, 103)):
        rnd = random.Random(seed)
        kept = 0
        while kept < n:
            src, variables = fn(rnd)
            res = render(src, variables)
            if kind == "expr" and "expected" not in res:
                continue
            kept += 1
            case = {"name": f"{kind}/{kept}", "template": src, "vars": variables}
            case.update(res)
            out.append(case)
    return out


def main():
    assert jinja2.__version__.startswith("3.1"), jinja2.__version__
    for fname, data in (("renders.json", gen_renders()), ("constructs.json", gen_constructs()),
                       ("random.json", gen_random())):
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
            json.dump({"generator": f"generate.py, Python jinja2 {jinja2.__version__}", "cases": data}, f,
                      ensure_ascii=False, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
