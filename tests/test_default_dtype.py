"""One default float dtype (issue 9, item 17): Python floats and lists of them, and creation
ops without a dtype, give ``gx.config.floatx()`` (float32, as TF, PyTorch and JAX); numpy data
keeps its dtype; ``set_floatx`` changes the default as Keras' does."""

import numpy as np
import pytest

import graphexec as gx


@pytest.fixture
def floatx64():
    gx.config.set_floatx("float64")
    yield
    gx.config.set_floatx("float32")


MAKERS = {
    "constant": lambda: gx.constant(0.5),
    "constant_list": lambda: gx.constant([1, 2.5]),
    "nested_tuple": lambda: gx.constant(((1.0, 2.0), (3, 4))),
    "empty_list": lambda: gx.constant([]),
    "as_operand": lambda: gx.add([0.5, 1.5], [1.0, 2.0]),
    "variable": lambda: gx.Variable(0.5).value(),
    "fill": lambda: gx.fill((2,), 0.5),
    "range": lambda: gx.range(0.0, 1.0, 0.25),
    "zeros": lambda: gx.zeros((2,)),
    "ones": lambda: gx.ones((2,)),
    "eye": lambda: gx.eye(2),
    "normal": lambda: gx.random.normal((2,), seed=0),
    "uniform": lambda: gx.random.uniform((2,), seed=0),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_python_floats_and_creation_ops_give_the_default_float_dtype(name):
    assert MAKERS[name]().dtype == np.float32
    with gx.graph() as g:
        t = MAKERS[name]()
    assert t.dtype == np.float32 and g.run(t).dtype == np.float32


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_set_floatx_changes_the_default(name, floatx64):
    assert gx.config.floatx() == np.float64
    assert MAKERS[name]().dtype == np.float64


def test_typed_data_keeps_its_dtype():
    assert gx.constant(np.array([0.5])).dtype == np.float64
    assert gx.constant(np.float64(0.5)).dtype == np.float64
    assert gx.constant(np.float16(0.5)).dtype == np.float16
    assert gx.Variable(np.zeros(2)).dtype == np.float64
    assert gx.fill((2,), np.float64(0.5)).dtype == np.float64
    assert gx.range(np.float64(0), 1.0, 0.5).dtype == np.float64
    assert gx.constant([1, 2]).dtype == np.int64 and gx.constant(True).dtype == np.bool_
    assert gx.constant(0.5, dtype="float64").dtype == np.float64


def test_values_are_the_python_values_rounded_once():
    np.testing.assert_array_equal(gx.constant([0.1, 1e-30, 3.0]).numpy(),
                                  np.array([0.1, 1e-30, 3.0], np.float32))


def test_complex_takes_the_complex_dtype_of_the_default_precision(floatx64):
    assert gx.constant(1 + 2j).dtype == np.complex128
    gx.config.set_floatx("float32")
    assert gx.constant([1 + 2j]).dtype == np.complex64


def test_scalars_next_to_tensors_stay_weak():
    f32, f64, i8 = (gx.constant(np.ones(2, d)) for d in ("float32", "float64", "int8"))
    assert (f32 * 0.5).dtype == np.float32 and (f64 * 0.5).dtype == np.float64
    # a float next to integers is the default float dtype, then numpy's promotion
    assert (i8 * 0.5).dtype == np.float32 and (gx.constant([True]) * 0.5).dtype == np.float32
    assert (gx.constant(np.ones(2, "int64")) * 0.5).dtype == np.float64
    assert (i8 + 1).dtype == np.int8


def test_a_float_the_default_dtype_cannot_hold_is_an_error_not_inf():
    with pytest.raises(gx.DTypeError, match=r"1e\+300 does not fit float32.*set_floatx"):
        gx.constant([1.0, 1e300])
    assert gx.constant(1e300, dtype="float64").numpy() == 1e300
    assert np.isinf(gx.constant(float("inf")).numpy())  # an inf stays an inf


def test_placeholders_and_tensor_specs_default_to_floatx(floatx64):
    assert gx.TensorSpec((2,)).dtype == np.float64
    with gx.graph():
        assert gx.placeholder((2,)).dtype == np.float64
    gx.config.set_floatx("float32")
    assert gx.TensorSpec((2,)).dtype == np.float32


def test_set_floatx_takes_float_dtypes_only():
    for bad in ("int32", "float8", None, "complex64"):
        with pytest.raises(gx.InvalidArgumentError, match="set_floatx"):
            gx.config.set_floatx(bad)
    assert gx.config.floatx() == np.float32
    gx.config.set_floatx(gx.float16)
    try:
        assert gx.constant(0.5).dtype == np.float16
    finally:
        gx.config.set_floatx("float32")


def test_dtype_objects_are_exported():
    names = ["bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
             "uint64", "float16", "float32", "float64", "complex64", "complex128"]
    for name in names:
        dt = getattr(gx, name)
        assert isinstance(dt, np.dtype)
        assert dt == np.dtype(name.rstrip("_") if name != "bool" else "bool")
    assert gx.ones(2, dtype=gx.int32).dtype == np.int32
    assert gx.cast(gx.constant([1.5]), gx.float64).dtype == np.float64


def test_floats_next_to_integers_are_not_rounded_below_the_result_dtype():
    # the scalar was float32 while int64 * float32 is float64: 0.1 came out 0.10000000149
    i64 = np.array([1, 16777217, 0, 3])
    t = gx.constant(i64)
    np.testing.assert_array_equal((t * 0.1).numpy(), i64 * 0.1)
    assert (t * 0.1).dtype == np.float64
    assert (t == 16777217.0).numpy().tolist() == [False, True, False, False]
    assert (t < 1e-50).numpy().tolist() == [False, False, True, False]
    np.testing.assert_array_equal((t * 1e300).numpy(), i64 * 1e300)
    with gx.graph() as g:
        p = gx.placeholder((4,), "int64", name="p")
        y = p * 0.1
    np.testing.assert_array_equal(g.run(y, {p: i64}), i64 * 0.1)


def test_traced_functions_follow_set_floatx():
    f = gx.function(lambda: gx.constant(0.5) * 2.0)
    assert f().dtype == np.float32
    gx.config.set_floatx("float64")
    try:
        assert f().dtype == np.float64  # a trace is for one default float dtype
    finally:
        gx.config.set_floatx("float32")
    assert f().dtype == np.float32 and f.trace_count == 2
    assert gx.TensorSpec((2,)).is_compatible_with([1.0, 2.0])
