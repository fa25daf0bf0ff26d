"""Fixtures shared by the bridge's torch tests."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: its models are tiny, and on a shared CPU two threads spin against each other."""
    import torch  # only the torch tests ask for this fixture

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
