"""Paging that never counts a big table: the reports page through at most CAP rows, newest
first in an indexed order. The total shown is the roll-ups' exact one when the view knows it
(`total=`), otherwise a count stopped at CAP + 1 rows ("more than 10,000"). A page reads its
ids past the offset first, then only its own rows with their joins; when the view has read
the ids of every row already (at most CAP of them, for its group-by table), a page is a slice
of those.

Every object_list is a QuerySet in a stable order (ending with a unique column)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.paginator import Paginator
from django.utils.functional import cached_property

CAP = 10_000


class CappedPaginator(Paginator):
    def __init__(
        self,
        object_list,
        per_page,
        total: int | None = None,
        more: bool = False,
        ids: list[int] | None = None,
        page_ids: Callable[[int, int], list[int]] | None = None,
    ):
        """`total`: the exact number of rows when the view knows it; `more`: the view knows
        there are more than CAP (no count then); `ids`: every row's id in the list's order,
        when the view has read them (then `total` is their number); `page_ids`: reads the
        ids of rows [bottom, top) in the list's order, when the view has a faster way than
        slicing the list."""
        super().__init__(object_list, per_page)
        self.total, self.more, self.ids, self.page_ids = total, more, ids, page_ids

    @cached_property
    def reached(self) -> int:
        """Rows that can be paged through, counting at most CAP + 1."""
        if self.total is not None:
            return min(self.total, CAP + 1)
        if self.more:
            return CAP + 1
        return self.object_list.order_by()[: CAP + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.reached, CAP)

    @property
    def capped(self) -> bool:
        """More rows match than the pages reach."""
        return self.reached > CAP

    def page(self, number):
        """The page's ids first (the index alone, past the offset), then their rows with
        their joins: the offset's rows are never joined."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        if self.ids is not None:
            ids = self.ids[bottom:top]
        elif self.page_ids is not None:
            ids = self.page_ids(bottom, top)
        else:
            ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in self.object_list.filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)

    @property
    def total_label(self) -> str:
        if self.total is not None:
            return f"{self.total:,}"
        return f"more than {CAP:,}" if self.capped else f"{self.count:,}"
