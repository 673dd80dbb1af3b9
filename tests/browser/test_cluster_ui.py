"""The browser scenarios of test_ui against `taskstream up --bus kafka` on Apache Kafka and PostgreSQL.

Each service runs as its own process; every change reaches the other window through the outbox, the relay,
Kafka, the consumers and the api's broadcast consumer. The tests are test_ui's own, collected again here with
this module's `server`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

from tests.browser.conftest import _missing_reason, require, running_up
from tests.browser.test_ui import (  # noqa: F401 - collected here again, against the cluster
    test_reminder_raises_toast_in_both_windows_and_snooze_marks_it_read,
    test_sign_up_recurring_task_completes_into_next_occurrence_seen_live_elsewhere,
    test_two_users_never_see_each_others_tasks,
)
from tests.conftest import (
    PG_ADMIN_URL,
    _create_pg_database,
    _drop_pg_database,
    _pg_url,
    start_kafka,
    unavailable,
)

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`deploy/local/kafka`'s broker, then `taskstream up --bus kafka --bootstrap … --database-url …`."""
    require(_missing_reason())
    root = tmp_path_factory.mktemp("cluster-ui")
    broker = start_kafka(root / "kafka")
    # Playwright's loop runs in this thread, so the database is made and dropped from another one.
    with ThreadPoolExecutor(max_workers=1) as worker:
        try:
            name = worker.submit(asyncio.run, _create_pg_database()).result()
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            broker.stop()
            unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}")
        try:
            options = ("--bus", "kafka", "--bootstrap", broker.bootstrap, "--database-url", _pg_url(name))
            with running_up(root / "up", *options, ready_timeout_s=120) as base:
                yield base
        finally:
            broker.stop()
            worker.submit(asyncio.run, _drop_pg_database(name)).result()
