"""first_true: numpy.select's semantics (first true condition wins, NaN where none), each branch on its entries only."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nondecoupling._piecewise import first_true

CONDITIONS = [lambda x, y: x < y, lambda x, y: x < 0.5, lambda x, y: np.isnan(y) | (y > 2)]  # they overlap
BRANCHES = [lambda x, y: x - y, np.add, lambda x, y: np.full(x.shape, 7.0)]
shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)
values = st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0, np.nan]) | st.floats(-1, 4)


@given(pair=hnp.mutually_broadcastable_shapes(num_shapes=2, base_shape=()), data=st.data())
def test_first_true_is_select_with_nan_default(pair, data):
    x = data.draw(hnp.arrays(np.float64, pair.input_shapes[0], elements=values))
    y = data.draw(hnp.arrays(np.float64, pair.input_shapes[1], elements=values))
    with np.errstate(invalid="ignore"):
        expected = np.select([c(x, y) for c in CONDITIONS], [b(*np.broadcast_arrays(x, y)) for b in BRANCHES],
                             default=np.nan)
        got = first_true([x, y], CONDITIONS, BRANCHES)
    assert got.dtype == np.float64 and got.shape == pair.result_shape
    np.testing.assert_array_equal(got, expected)  # NaN where no condition holds


def test_each_branch_sees_only_its_entries():
    seen = []
    branches = [lambda x: seen.append(("negative", x)) or -x, lambda x: seen.append(("rest", x)) or x]
    got = first_true([np.array([[-1.0, 2.0], [-3.0, 4.0]])], [lambda x: x < 0, lambda x: True], branches)
    np.testing.assert_array_equal(got, [[1.0, 2.0], [3.0, 4.0]])
    assert [(name, list(x)) for name, x in seen] == [("negative", [-1.0, -3.0]), ("rest", [2.0, 4.0])]


def test_scalar_arguments_give_a_0d_array_and_scalar_branches_broadcast():
    got = first_true([2, 0.5], [lambda x, y: x > y, lambda x, y: True], [lambda x, y: np.inf, np.subtract])
    assert isinstance(got, np.ndarray) and got.shape == () and got == np.inf
    np.testing.assert_array_equal(first_true([np.zeros(3)], [lambda x: False], [np.exp]), np.full(3, np.nan))
