"""GET /api/v1/tasks: full-text search, filters, sort by meaning, cursor pages, missing fields never match."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from taskstream.domain.clock import FixedClock
from tests.conftest import sign_up


async def _seed(client: httpx.AsyncClient, headers: dict[str, str], clock: FixedClock) -> dict[str, str]:
    rows: list[dict[str, Any]] = [
        {
            "title": "Pay rent",
            "priority": "urgent",
            "tags": ["bills", "home"],
            "due_at": "2026-03-01T09:00:00Z",
        },
        {
            "title": "Water plants",
            "description": "the ficus too",
            "priority": "low",
            "tags": ["home"],
            "due_at": "2026-03-05T09:00:00Z",
        },
        {"title": "Read book", "priority": "none"},
        {"title": "Électricité bill", "priority": "high", "tags": ["bills"], "due_date": "2026-03-03"},
        {"title": "Tax return", "priority": "medium", "due_at": "2026-04-10T12:00:00Z"},
    ]
    ids = {}
    for row in rows:
        clock.advance(timedelta(seconds=1))
        task = (await client.post("/api/v1/tasks", json=row, headers=headers)).json()
        ids[row["title"]] = task["id"]
    return ids


async def _titles(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get("/api/v1/tasks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["items"]]


async def test_sorts(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    await _seed(client, headers, clock)
    assert await _titles(client, headers) == [
        "Pay rent",
        "Électricité bill",
        "Water plants",
        "Tax return",
        "Read book",
    ]
    assert await _titles(client, headers, sort="-due") == [
        "Tax return",
        "Water plants",
        "Électricité bill",
        "Pay rent",
        "Read book",
    ]
    assert await _titles(client, headers, sort="-priority") == [  # descending: most pressing first
        "Pay rent",
        "Électricité bill",
        "Tax return",
        "Water plants",
        "Read book",
    ]
    assert (await _titles(client, headers, sort="priority"))[0] == "Read book"
    by_title = [
        t for t in await _titles(client, headers, sort="title") if t.isascii()
    ]  # É collates per database
    assert by_title == ["Pay rent", "Read book", "Tax return", "Water plants"]
    assert (await _titles(client, headers, sort="created"))[0] == "Pay rent"
    assert (await _titles(client, headers, sort="-created"))[0] == "Tax return"
    bad = await client.get("/api/v1/tasks", params={"sort": "colour"}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "sort")


async def test_filters_never_match_missing_fields(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    await _seed(client, headers, clock)
    assert await _titles(client, headers, due_before="2026-03-04T00:00:00Z") == [
        "Pay rent",
        "Électricité bill",
    ]
    assert await _titles(client, headers, due_after="2026-03-04") == ["Water plants", "Tax return"]
    assert await _titles(client, headers, tag=["bills", "home"]) == ["Pay rent"]
    assert await _titles(client, headers, tag="bills") == ["Pay rent", "Électricité bill"]
    assert await _titles(client, headers, priority=["low", "urgent"]) == ["Pay rent", "Water plants"]
    # The clock says 2026-03-02 08:00 UTC: only rent (due 03-01 09:00) is overdue; the all-day 03-03 is not.
    assert await _titles(client, headers, overdue="true") == ["Pay rent"]
    clock.advance(timedelta(days=2))  # 03-04 08:00: the all-day task of 03-03 is overdue now
    assert await _titles(client, headers, overdue="true") == ["Pay rent", "Électricité bill"]
    bad = await client.get("/api/v1/tasks", params={"due_before": "soon"}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "due_before")


async def test_completed_filter(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    ids = await _seed(client, headers, clock)
    await client.post(f"/api/v1/tasks/{ids['Read book']}/complete", headers=headers)
    assert await _titles(client, headers, completed="true") == ["Read book"]
    assert "Read book" not in await _titles(client, headers, completed="false")


async def test_full_text_search(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    await _seed(client, headers, clock)
    assert await _titles(client, headers, q="ficus") == ["Water plants"]  # description
    assert await _titles(client, headers, q="PLANT") == ["Water plants"]  # prefix, any case
    assert await _titles(client, headers, q="bill") == ["Électricité bill"]
    decomposed = "e\u0301lectricite\u0301"  # é as e + combining acute, as some keyboards send it
    for q in ("électricité", "élec", decomposed, "BİLL"):  # beyond ASCII letters and digits, both plan kinds
        for sort in ("due", "title"):
            assert await _titles(client, headers, q=q, sort=sort) == ["Électricité bill"], (q, sort)
    assert await _titles(client, headers, q="rent pay") == ["Pay rent"]  # every term must match
    assert await _titles(client, headers, q="rent " * 10 + "zebra") == []  # repeats count once; zebra too
    many = await client.get("/api/v1/tasks", params={"q": " ".join("abcdefghijk")}, headers=headers)
    assert many.status_code == 422 and many.json()["field"] == "q", many.text  # 11 words: refused, not cut
    assert await _titles(client, headers, q="zebra") == []
    assert await _titles(client, headers, q="\"'*:&|!") == []  # operators are not syntax
    assert len(await _titles(client, headers, q="  ")) == len(await _titles(client, headers))  # blank: all
    renamed = await client.get("/api/v1/tasks", params={"q": "water"}, headers=headers)
    task_id = renamed.json()["items"][0]["id"]
    await client.patch(
        f"/api/v1/tasks/{task_id}", json={"title": "Feed cat", "description": None}, headers=headers
    )
    assert await _titles(client, headers, q="water") == []
    assert await _titles(client, headers, q="cat") == ["Feed cat"]


async def test_cursor_pages_cover_everything_once(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    for n in range(23):
        clock.advance(timedelta(seconds=1))
        due = {"due_at": f"2026-03-{1 + n % 5:02d}T09:00:00Z"} if n % 3 else {}
        await client.post(
            "/api/v1/tasks",
            json={"title": f"t{n:02d}", "priority": ["low", "high"][n % 2]} | due,
            headers=headers,
        )
    for sort in ("due", "-due", "priority", "-priority", "title", "created", "-created"):
        seen: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 5} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/v1/tasks", params=params, headers=headers)).json()
            seen += [t["title"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"t{n:02d}" for n in range(23)], sort
        whole = await _titles(client, headers, sort=sort, limit=200)
        assert seen == whole, sort
    bad = await client.get("/api/v1/tasks", params={"cursor": "garbage"}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor")
    too_many = await client.get("/api/v1/tasks", params={"limit": 201}, headers=headers)
    assert (too_many.status_code, too_many.json()["field"]) == (422, "limit")


async def test_tags_count_open_tasks(client: httpx.AsyncClient, clock: FixedClock) -> None:
    headers = await sign_up(client)
    ids = await _seed(client, headers, clock)
    await client.post(f"/api/v1/tasks/{ids['Pay rent']}/complete", headers=headers)
    tags = (await client.get("/api/v1/tags", headers=headers)).json()
    assert tags == [
        {"name": "bills", "open_count": 1, "total_count": 2},
        {"name": "home", "open_count": 1, "total_count": 2},
    ]


async def test_counts_of_named_views_match_their_lists_in_one_request(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    headers = await sign_up(client)
    ids = await _seed(client, headers, clock)
    await client.post(f"/api/v1/tasks/{ids['Read book']}/complete", headers=headers)
    other = await sign_up(client, "other@example.com")
    await client.post("/api/v1/tasks", json={"title": "Not yours", "tags": ["bills"]}, headers=other)
    views: dict[str, dict[str, Any]] = {
        "open": {"completed": False},
        "done": {"completed": True},
        "bills": {"completed": False, "tag": ["bills"]},
        "march": {"due_after": "2026-03-02", "due_before": "2026-04-01"},
        "overdue": {"overdue": True},
        "urgent or high": {"priority": ["urgent", "high"]},
        "rent": {"q": "rent"},
    }
    answer = await client.post("/api/v1/counts", json={"views": views}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for name, filters in views.items():  # each count is the length of the list with the same filters
        listed = (await client.get("/api/v1/tasks", params={**filters, "limit": 200}, headers=headers)).json()
        assert body["counts"][name] == len(listed["items"]), name
    assert body["counts"] == {
        "open": 4, "done": 1, "bills": 2, "march": 2, "overdue": 1, "urgent or high": 2, "rent": 1,
    }  # fmt: skip
    assert body["cap"] == 10_000
    assert {t["name"]: (t["open_count"], t["total_count"]) for t in body["tags"]} == {
        "bills": (2, 2),
        "home": (2, 2),
    }


async def test_counts_refuse_bad_views_naming_the_field(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    bad = [
        ({"views": {"today": {"due_before": "tomorrow"}}}, "views.today.due_before"),
        ({"views": {"today": {"colour": "red"}}}, "views.today.colour"),
        ({"views": {f"v{n}": {} for n in range(21)}}, "views"),
        ({"views": {"x": {"q": "a b c d e f g h i j k"}}}, "views.x.q"),
        ({"views": {"x": {"tag": ["a\u0000b"]}}}, "views.x.tag"),
        ({"views": {"x": {"overdue": 0}}}, "views.x.overdue"),  # JSON types as they are
    ]
    for body, field in bad:
        answer = await client.post("/api/v1/counts", json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field, (body, answer.json())
