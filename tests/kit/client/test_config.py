"""Base URLs are checked the same way for every platform: no guessed scheme, no credentials
inside the URL, the setting named in the message."""

from __future__ import annotations

import pytest
from platforge.provider._kit.client import ConfigurationError, checked_base_url


@pytest.mark.parametrize(("url", "expected"), [(" http://h:1/ ", "http://h:1"), ("https://h/x//", "https://h/x")])
def test_good_urls_are_trimmed(url, expected):
    assert checked_base_url(url, "the X URL") == expected


@pytest.mark.parametrize(("url", "problem"), [("h.example.com", "must start with http"), ("", "must start with http"),
                                              ("ftp://h", "must start with http"),
                                              ("https://u:p@h", "must not embed credentials")])
def test_bad_urls_are_refused_naming_the_setting(url, problem):
    with pytest.raises(ConfigurationError, match=f"the X URL {problem}") as info:
        checked_base_url(url, "the X URL")
    assert "u:p" not in str(info.value)
