from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseline.text import mrkdwn_to_text, to_plain
from tests.text._strategies import nasty_text


@pytest.mark.parametrize("name", ["conversations.history_ok.json", "conversations.replies_ok.json"])
def test_slack_sample_messages_pass_through(vendor_sample: Callable[..., Any], name: str) -> None:
    messages = vendor_sample("slack", name)["messages"]
    assert messages
    for message in messages:
        assert to_plain("mrkdwn", message["text"]) == message["text"].strip()


def test_sample_text_wrapped_in_markup_comes_back(vendor_sample: Callable[..., Any]) -> None:
    message = vendor_sample("slack", "conversations.history_ok.json")["messages"][0]
    user, text = message["user"], message["text"]
    marked = f"<@{user}> said *{text}* &amp; <!here>"
    assert mrkdwn_to_text(marked) == f"@{user} said {text} & @here"
    assert mrkdwn_to_text(marked, users={user: "Ann"}) == f"@Ann said {text} & @here"


@pytest.mark.parametrize(
    ("mrkdwn", "expected"),
    [
        ("<@U123> ping", "@U123 ping"),
        ("<@U123|jane> ping", "@jane ping"),
        ("<@W9>", "@W9"),
        ("in <#C024BE91L|incidents> and <#C1>", "in #incidents and #C1"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S0614TZR7|@oncall> look", "@oncall look"),
        ("<!subteam^S0614TZR7>", "@S0614TZR7"),
        ("at <!date^1392734382^{date_short}|Feb 18, 2014>", "at Feb 18, 2014"),
        ("<https://status.acme.com/x|status page>", "status page (https://status.acme.com/x)"),
        ("<https://acme.com>", "https://acme.com"),
        ("<https://acme.com|acme.com>", "acme.com"),
        ("<mailto:ops@acme.com|ops@acme.com>", "ops@acme.com"),
        ("<https://x.io/?a=1&amp;b=2|q &amp; a>", "q & a (https://x.io/?a=1&b=2)"),
        ("5 &lt; 6 &gt; 4 &amp;&amp; &amp;lt;", "5 < 6 > 4 && &lt;"),
        ("*bold* _italic_ ~strike~ `code`", "bold italic strike code"),
        ("*see <https://x.io|here>*", "see here (https://x.io)"),
        ("snake_case_name and 2*3*4 and a_b_", "snake_case_name and 2*3*4 and a_b_"),
        ("```\n*not bold* <@U1>\n```", "*not bold* <@U1>"),
        ("`_keep_`", "_keep_"),
        ("&gt; quoted\nreply", "> quoted\nreply"),
        ("", ""),
    ],
)
def test_mrkdwn_rules(mrkdwn: str, expected: str) -> None:
    assert mrkdwn_to_text(mrkdwn) == expected


def test_users_mapping_only_fills_unnamed_mentions() -> None:
    users = {"U1": "alice", "U2": "bob"}
    assert mrkdwn_to_text("<@U1> <@U2|robert> <@U3>", users=users) == "@alice @robert @U3"
    assert to_plain("mrkdwn", "<@U1>", users=users) == "@alice"


@given(nasty_text, st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3))
def test_mrkdwn_never_crashes(text: str, users: dict[str, str]) -> None:
    result = mrkdwn_to_text(text, users=users)
    assert isinstance(result, str)
    result.encode("utf-8")
    assert "\ue000" not in result or "\ue000" in text  # no placeholder leaks
