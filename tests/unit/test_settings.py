"""Settings: the database pool of one process."""

from __future__ import annotations

from taskstream.settings import Settings


def test_the_pool_totals_are_shared_out_between_the_api_workers() -> None:
    assert Settings(db_pool_size=10, db_max_overflow=10).pool_of_one_process() == (10, 10)
    assert Settings(db_pool_size=1, db_max_overflow=0).pool_of_one_process() == (1, 0)
    assert Settings(db_pool_size=10, db_max_overflow=10, workers=2).pool_of_one_process() == (5, 5)
    assert Settings(db_pool_size=10, db_max_overflow=5, workers=3).pool_of_one_process() == (4, 2)
    assert Settings(db_pool_size=3, db_max_overflow=0, workers=8).pool_of_one_process() == (1, 0)
