from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first, stable under concurrent inserts (ids only grow)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
