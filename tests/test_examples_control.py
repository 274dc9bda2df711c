"""The control-flow and BatchNorm/Dropout examples, small: both modes give the same results."""

import pathlib
import sys

import pytest

pytest.importorskip("sklearn")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import control_flow
import train_digits_bn


def test_the_rnn_and_newton_examples_agree_in_both_modes(capsys):
    r = control_flow.main(["--epochs", "1"])
    assert r["loss_difference"] < 1e-5
    (e_loss, e_acc), (_, g_acc) = r["eager"], r["graph (level 1)"]
    assert e_loss[-1] < e_loss[0] and abs(e_acc - g_acc) < 0.02
    for k_e, x_e, k_g, x_g in r["newton"]:
        assert k_e == k_g and x_e == x_g
    assert [k for k, *_ in r["newton"]] == [4, 5, 10]
    assert "largest relative difference" in capsys.readouterr().out


def test_the_batch_norm_dropout_cnn_trains_the_same_in_both_modes():
    r = train_digits_bn.main(["--epochs", "1", "--optimize", "1"])
    e, g = r["eager"], r["graph (level 1)"]
    assert r["loss_difference"] == 0.0 and e["accuracy"] == g["accuracy"] > 0.2  # 1 epoch
    assert (e["moving_mean"] == g["moving_mean"]).all() and e["moving_mean"].any()
