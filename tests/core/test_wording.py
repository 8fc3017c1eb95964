"""How counts read: one photo, 2 photos, 12,345 photos; 1 photo/s; 1 of 1 photo."""
from __future__ import annotations

from core.wording import of_total, per_second, plural


def test_counts_agree_with_their_number():
    assert plural(1, "photo") == "1 photo" and plural(0, "photo") == "0 photos"
    assert plural(3, "class", "classes") == "3 classes"
    assert plural(12345, "photo") == "12,345 photos"


def test_rates_are_rounded_before_the_word_is_chosen():
    assert per_second(1.2, "photo") == "1 photo/s"
    assert per_second(0.7, "photo") == "1 photo/s"
    assert per_second(2345.6, "photo") == "2,346 photos/s"


def test_a_share_of_a_total_counts_the_total():
    assert of_total(1, 1, "photo") == "1 of 1 photo"
    assert of_total(1200, 3400, "photo") == "1,200 of 3,400 photos"
