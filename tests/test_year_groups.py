"""Year groups as bitmasks, and how they read."""
import pytest

from portal.models.year_groups import describe, from_mask, to_mask


def test_round_trip():
    for years in ([], [0], [7, 8, 9], [0, 1, 2, 14], list(range(15))):
        assert from_mask(to_mask(years)) == years


def test_out_of_range_is_refused():
    with pytest.raises(ValueError):
        to_mask([15])
    with pytest.raises(ValueError):
        to_mask([-1])


@pytest.mark.parametrize(
    ("years", "text"),
    [([9, 10], "Years 9–10"), ([7], "Year 7"), ([0, 1, 2], "Reception and Years 1–2"),
     ([7, 9, 11], "Year 7, Year 9 and Year 11"), ([], "no year groups"), ([10, 9, 9], "Years 9–10")],
)
def test_describe(years, text):
    assert describe(years) == text
