"""spec.parse_certificates: each entry's name is checked once, so a long list stays linear."""

from __future__ import annotations

import pytest

from module_utils.ocsp_staple import names, spec
from module_utils.ocsp_staple.errors import InputError


def _items(count: int) -> list[dict[str, str]]:
    return [{"name": f"site{i}", "certificate": f"/etc/ssl/site{i}.pem"} for i in range(count)]


def test_parse_certificates_checks_each_name_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = names.check_name

    def counting(name: object) -> str:
        nonlocal calls
        calls += 1
        return real(name)

    monkeypatch.setattr(names, "check_name", counting)
    monkeypatch.setattr(spec, "check_name", counting)
    count = 400
    assert len(spec.parse_certificates(_items(count))) == count
    # Re-checking the growing list for every entry would be count*(count+1)/2 = 80,200 calls.
    assert calls <= 2 * count


def test_parse_certificates_reports_the_duplicate_before_a_later_error() -> None:
    items = [*_items(3), {"name": "site1", "certificate": "/x.pem"}, {"name": "bad name", "certificate": "/y.pem"}]
    with pytest.raises(InputError, match=r"^certificates\[3\]: certificate name 'site1' appears twice$"):
        spec.parse_certificates(items)


def test_check_names_without_a_carried_set_still_finds_the_first_repeat() -> None:
    assert names.check_names(["a", "b", "a", "b"]) == (2, "a")
    seen: set[str] = set()
    assert names.check_names(["a"], seen) is None
    assert names.check_names(["b", "a"], seen) == (1, "a")
