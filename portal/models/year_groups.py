"""Year groups stored as a bitmask (bit n = Year n, 0 = Reception), so "serves Year 9" and "year groups
overlap" are one integer AND in SQL, the same on SQLite and PostgreSQL."""
from collections.abc import Iterable


def to_mask(years: Iterable[int]) -> int:
    mask = 0
    for year in years:
        if not 0 <= int(year) <= 14:
            raise ValueError(f"year group out of range: {year}")
        mask |= 1 << int(year)
    return mask


def from_mask(mask: int) -> list[int]:
    return [year for year in range(15) if mask & (1 << year)]


class YearGroupsMixin:
    """For models with a `year_mask` column: read and set it as a list of year groups."""

    year_mask: int

    @property
    def year_groups(self) -> list[int]:
        return from_mask(self.year_mask)

    @year_groups.setter
    def year_groups(self, years) -> None:
        self.year_mask = to_mask(years)


def describe(years: Iterable[int]) -> str:
    """'Years 9–10', 'Year 7', 'Reception, Years 1–2', 'Years 7, 9 and 11'."""
    from portal.vocab import year_label

    years = sorted(set(years))
    if not years:
        return "no year groups"
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    parts = []
    for run in runs:
        if run[0] == 0:
            parts.append(year_label(0))
            run = run[1:]
            if not run:
                continue
        parts.append(f"Year {run[0]}" if len(run) == 1 else f"Years {run[0]}–{run[-1]}")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
