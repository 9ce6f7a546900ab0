import pytest


@pytest.fixture(scope="session")
def bench_script():
    """The benchmark report's renderers (comparison.bench), without running a benchmark."""
    from comparison import bench

    return bench
