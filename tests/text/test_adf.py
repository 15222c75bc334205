from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseline.text import adf_to_text, to_plain
from tests.text._strategies import any_char, nasty_text


def _texts(node: Any) -> list[str]:
    """All `text` leaves of an ADF tree, in order (an independent reading of the sample)."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "text" else []
        return own + [t for child in node.get("content", []) for t in _texts(child)]
    return []


def test_jira_cli_issue_description(vendor_sample: Callable[..., Any]) -> None:
    description = vendor_sample("jira", "issue_adf_description_jira-cli.json")["fields"]["description"]
    assert to_plain("adf", description) == " ".join(_texts(description))
    assert to_plain("adf", json.dumps(description)) == to_plain("adf", description)


def test_airbyte_comment_bodies(vendor_sample: Callable[..., Any]) -> None:
    comments = vendor_sample("jira", "issue_comments_airbyte.json")["comments"]
    assert len(comments) >= 2
    for comment in comments:
        assert adf_to_text(comment["body"]) == "".join(_texts(comment["body"]))


def p(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def t(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def item(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(blocks)}


def link(href: str) -> dict[str, Any]:
    return {"type": "link", "attrs": {"href": href}}


DOC = {
    "type": "doc",
    "version": 1,
    "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [t("Impact")]},
        p(
            t("Ping "),
            {"type": "mention", "attrs": {"id": "5fc9e78d", "text": "@Integration Test"}},
            t(" about "),
            t("ZD 123", {"type": "strong"}, link("https://acme.zendesk.com/agent/tickets/123")),
            t(" "),
            {"type": "emoji", "attrs": {"shortName": ":fire:", "text": "🔥"}},
            {"type": "hardBreak"},
            {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/OPS-1"}},
        ),
        {
            "type": "bulletList",
            "content": [
                item(p(t("EU")), {"type": "bulletList", "content": [item(p(t("Paris")))]}),
                item(p(t("US"))),
            ],
        },
        {"type": "orderedList", "attrs": {"order": 3}, "content": [item(p(t("third"))), item(p(t("fourth")))]},
        {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("pay()\n  retry()")]},
        {"type": "blockCard", "attrs": {"url": "https://linear.app/acme/issue/ENG-42"}},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [p(t("Region"))]},
                        {"type": "tableHeader", "content": [p(t("Errors"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [p(t("EU"))]},
                        {"type": "tableCell", "content": [p(t("512"))]},
                    ],
                },
            ],
        },
        {"type": "someFutureNode", "content": [p(t("kept through recursion"))]},
        {"type": "rule"},
        {"type": "blockquote", "content": [p(t("quoted"))]},
    ],
}


def test_document_structure() -> None:
    assert adf_to_text(DOC).split("\n") == [
        "Impact",
        "",
        "Ping @Integration Test about ZD 123 (https://acme.zendesk.com/agent/tickets/123) 🔥",
        "https://acme.atlassian.net/browse/OPS-1",
        "",
        "- EU",
        "  - Paris",
        "- US",
        "",
        "3. third",
        "4. fourth",
        "",
        "pay()",
        "  retry()",
        "",
        "https://linear.app/acme/issue/ENG-42",
        "",
        "Region | Errors",
        "EU | 512",
        "",
        "kept through recursion",
        "",
        "> quoted",
    ]


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (p(t("https://x.io", link("https://x.io"))), "https://x.io"),  # label is the URL: not repeated
        (p({"type": "mention", "attrs": {"id": "abc", "text": "Jane"}}), "@Jane"),
        (p({"type": "mention", "attrs": {"id": "abc"}}), "@abc"),
        (p({"type": "emoji", "attrs": {"shortName": ":shrug:"}}), ":shrug:"),
        (p({"type": "status", "attrs": {"text": "BLOCKED"}}), "BLOCKED"),
        (p({"type": "date", "attrs": {"timestamp": "1700000000000"}}), "2023-11-14"),
        (
            {"type": "taskList", "content": [{"type": "taskItem", "attrs": {"state": "DONE"}, "content": [t("ship")]}]},
            "- [x] ship",
        ),
        ({"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]}, ""),
    ],
)
def test_node_rules(node: dict[str, Any], expected: str) -> None:
    assert adf_to_text({"type": "doc", "content": [node]}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("plain v2 body, not JSON", "plain v2 body, not JSON"),
        ("null", ""),
        ('"a JSON string"', "a JSON string"),
        ({"content": "not a list"}, ""),
        ({"type": "paragraph", "content": [None, 5, "raw", {"type": 7}, {"type": "text", "text": 5}]}, "raw"),
        ({"type": "text", "text": "x", "marks": "bogus"}, "x"),
        ({"type": "doc", "content": [p(t("a", {"type": "link", "attrs": None}))]}, "a"),
        ({"type": "orderedList", "attrs": {"order": "x"}, "content": [item(p(t("one")))]}, "1. one"),
        ({"type": "date", "attrs": {"timestamp": "1e400"}}, ""),
        (12, ""),
    ],
)
def test_odd_input_never_raises(value: Any, expected: str) -> None:
    assert adf_to_text(value) == expected


def test_very_deep_nesting() -> None:
    node: dict[str, Any] = t("deep")
    for _ in range(5000):
        node = {"type": "paragraph", "content": [node, {"type": "blockquote", "content": []}]}
    assert isinstance(adf_to_text(node), str)
    assert isinstance(adf_to_text("[" * 100_000), str)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(any_char, max_size=6)
node_types = st.sampled_from(
    [
        "doc",
        "paragraph",
        "text",
        "mention",
        "emoji",
        "hardBreak",
        "inlineCard",
        "blockCard",
        "bulletList",
        "orderedList",
        "listItem",
        "codeBlock",
        "table",
        "tableRow",
        "tableCell",
        "taskItem",
        "date",
        "status",
        "x",
    ]
)
keys = st.sampled_from(["type", "content", "text", "attrs", "marks", "href", "url", "order", "state", "timestamp"])
json_trees = st.recursive(
    json_scalars | node_types,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys | st.text(max_size=3), children, max_size=5)
        | st.builds(
            lambda kind, content: {"type": kind, "content": content}, node_types, st.lists(children, max_size=3)
        )
    ),
    max_leaves=40,
)


@given(json_trees)
def test_arbitrary_json_never_crashes(tree: Any) -> None:
    assert isinstance(adf_to_text(tree), str)
    assert isinstance(adf_to_text(json.dumps(tree)), str)


@given(nasty_text)
def test_arbitrary_strings_never_crash(text: str) -> None:
    result = to_plain("adf", text)
    assert isinstance(result, str)
    result.encode("utf-8")
