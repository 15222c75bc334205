from __future__ import annotations

import pytest
from hypothesis import given

from caseline.text import markdown_to_text, to_plain
from tests.text._strategies import nasty_text

LINEAR_DESCRIPTION = """# Checkout fails for EU cards

Customers report **500 errors** on _checkout_ since ~~Monday~~ today.
See [ZD 123](https://acme.zendesk.com/agent/tickets/123) and <https://status.acme.com>.

* Chrome
* Safari with `pay_v2` flag
  - iOS 17
1. Open cart

> reported by support

| Region | Errors |
|--------|-------:|
| EU     | 512    |

```python
def pay(a, b): return a*b*c
```

![screenshot](https://uploads.linear.app/x.png)
***
Escaped \\*stars\\* stay, snake_case_var too.
"""


def test_linear_description() -> None:
    assert markdown_to_text(LINEAR_DESCRIPTION).split("\n") == [
        "Checkout fails for EU cards",
        "",
        "Customers report 500 errors on checkout since Monday today.",
        "See ZD 123 (https://acme.zendesk.com/agent/tickets/123) and https://status.acme.com.",
        "",
        "- Chrome",
        "- Safari with pay_v2 flag",
        "  - iOS 17",
        "1. Open cart",
        "",
        "> reported by support",
        "",
        "Region | Errors",
        "EU | 512",
        "",
        "def pay(a, b): return a*b*c",
        "",
        "screenshot",
        "",
        "Escaped *stars* stay, snake_case_var too.",
    ]


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[https://x.io](https://x.io)", "https://x.io"),
        ('[docs](https://x.io/d "Title")', "docs (https://x.io/d)"),
        ("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))", "wiki (https://en.wikipedia.org/wiki/Foo_(bar))"),
        ("[`code` label](https://x.io)", "code label (https://x.io)"),
        ("[mail](mailto:a@b.co)", "mail (a@b.co)"),
        ("Title\n=====\nbody", "Title\n\nbody"),
        ("line<br>break <details><summary>More</summary>hidden</details>", "line\nbreak\n\nMore\nhidden"),
        ("`unclosed backtick", "`unclosed backtick"),
        ("", ""),
    ],
)
def test_markdown_rules(markdown: str, expected: str) -> None:
    assert markdown_to_text(markdown) == expected


@given(nasty_text)
def test_markdown_never_crashes(text: str) -> None:
    result = to_plain("markdown", text)
    assert isinstance(result, str)
    result.encode("utf-8")
