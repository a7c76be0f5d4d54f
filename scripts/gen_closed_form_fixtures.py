#!/usr/bin/env python3
"""Generate crates/nn/tests/data/closed_form_numpy.json: reference answers for nn::closed_form
and nn::poly, computed once with NumPy (and scikit-learn's PolynomialFeatures when installed).

Least squares uses numpy.linalg.lstsq (SVD); ridge uses the normal equations
(X^T X + lambda I) beta = X^T y solved with numpy.linalg.solve -- an independent method from the
Rust side's pivoted QR, so agreement is evidence rather than a tautology. With an intercept, X and
y are centred first and the intercept recovered as mean(y) - mean(X) . beta; the intercept is not
penalised (scikit-learn's Ridge convention).

Data: the diabetes set (Efron et al. 2004) as shipped by scikit-learn, copied into
crates/nn/tests/data/ (BSD-3, see SKLEARN_COPYING there).

Run from the repository root:  python3 scripts/gen_closed_form_fixtures.py
"""

import gzip
import itertools
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "nn" / "tests" / "data"
OUT = DATA / "closed_form_numpy.json"

COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
TRAIN_ROWS = 400  # the remaining 42 rows are held out to check predict()

try:
    from sklearn.preprocessing import PolynomialFeatures as SkPolynomialFeatures
    import sklearn

    POLY_SOURCE = f"scikit-learn {sklearn.__version__} PolynomialFeatures"
except ImportError:  # fall back to the same construction written out in NumPy
    SkPolynomialFeatures = None
    POLY_SOURCE = "numpy re-implementation of scikit-learn's PolynomialFeatures order"


def load_diabetes():
    with gzip.open(DATA / "diabetes_data_raw.csv.gz", "rt") as f:
        x = np.loadtxt(f)
    with gzip.open(DATA / "diabetes_target.csv.gz", "rt") as f:
        y = np.loadtxt(f)
    assert x.shape == (442, 10) and y.shape == (442,)
    return x, y


def combinations(n_inputs, degree, include_bias):
    start = 0 if include_bias else 1
    for d in range(start, degree + 1):
        yield from itertools.combinations_with_replacement(range(n_inputs), d)


def term_name(combo):
    if not combo:
        return "1"
    parts = []
    for index, group in itertools.groupby(combo):
        power = len(list(group))
        parts.append(f"x{index}" if power == 1 else f"x{index}^{power}")
    return " ".join(parts)


def poly_features(x, degree, include_bias):
    """Returns (matrix, names); scikit-learn's when available, else the NumPy construction."""
    if SkPolynomialFeatures is not None:
        pf = SkPolynomialFeatures(degree=degree, include_bias=include_bias)
        out = pf.fit_transform(x)
        names = [str(n) for n in pf.get_feature_names_out()]
        # Cross-check that the fallback (and so the documented order) agrees with scikit-learn.
        mine = [term_name(c) for c in combinations(x.shape[1], degree, include_bias)]
        assert names == mine, (names, mine)
        return np.asarray(out, dtype=np.float64), names
    combos = list(combinations(x.shape[1], degree, include_bias))
    out = np.empty((x.shape[0], len(combos)))
    for j, combo in enumerate(combos):
        col = np.ones(x.shape[0])
        for index in combo:
            col = col * x[:, index]
        out[:, j] = col
    return out, [term_name(c) for c in combos]


def matrix(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def fit(features, y, method, lam, fit_intercept):
    if fit_intercept:
        x_mean, y_mean = features.mean(axis=0), y.mean()
    else:
        x_mean, y_mean = np.zeros(features.shape[1]), 0.0
    xc, yc = features - x_mean, y - y_mean
    if method == "lstsq":
        beta, _, rank, _ = np.linalg.lstsq(xc, yc, rcond=None)
        assert rank == features.shape[1], "fixture fits must be full rank"
    else:
        beta = np.linalg.solve(xc.T @ xc + lam * np.eye(xc.shape[1]), xc.T @ yc)
    return beta, float(y_mean - x_mean @ beta)


def fit_case(name, x_all, y_all, degree, include_bias, fit_intercept, method, lam=0.0):
    x_train, y_train = x_all[:TRAIN_ROWS], y_all[:TRAIN_ROWS]
    x_test = x_all[TRAIN_ROWS:]
    features, _ = poly_features(x_train, degree, include_bias)
    beta, intercept = fit(features, y_train, method, lam, fit_intercept)
    test_features, _ = poly_features(x_test, degree, include_bias)
    return {
        "name": name,
        "method": method,
        "lambda": lam,
        "degree": degree,
        "include_bias": include_bias,
        "fit_intercept": fit_intercept,
        "condition_number": float(np.linalg.cond(features - features.mean(axis=0) if fit_intercept else features)),
        "x": matrix(x_train),
        "y": [float(v) for v in y_train],
        "coefficients": [float(v) for v in beta],
        "intercept": intercept,
        "x_test": matrix(x_test),
        "predictions": [float(v) for v in test_features @ beta + intercept],
    }


def rank_case(name, features, y, fit_intercept):
    centred = features - features.mean(axis=0) if fit_intercept else features
    return {
        "name": name,
        "fit_intercept": fit_intercept,
        "x": matrix(features),
        "y": [float(v) for v in y],
        "numpy_rank": int(np.linalg.matrix_rank(centred)),
        "columns": int(features.shape[1]),
    }


def main():
    raw, target = load_diabetes()
    train = raw[:TRAIN_ROWS]
    # Standardise with the training rows' statistics so polynomial columns stay well scaled.
    standardised = (raw - train.mean(axis=0)) / train.std(axis=0)
    col = {name: i for i, name in enumerate(COLUMNS)}
    bmi = standardised[:, [col["bmi"]]]
    three = standardised[:, [col["bmi"], col["bp"], col["s5"]]]
    raw_bmi = raw[:, [col["bmi"]]]

    fits = [
        fit_case("bmi_deg3_lstsq_bias_column", bmi, target, 3, True, False, "lstsq"),
        fit_case("bmi_deg6_lstsq_intercept", bmi, target, 6, False, True, "lstsq"),
        fit_case("bmi_deg6_ridge_lambda5_intercept", bmi, target, 6, False, True, "ridge", 5.0),
        fit_case("bmi_bp_s5_deg2_ridge_lambda1_bias_column", three, target, 2, True, False, "ridge", 1.0),
        fit_case("bmi_bp_s5_deg3_lstsq_intercept", three, target, 3, False, True, "lstsq"),
        fit_case("raw_ten_features_lstsq_intercept", raw, target, 1, False, True, "lstsq"),
        fit_case("raw_ten_features_ridge_lambda100_bias_column", raw, target, 1, True, False, "ridge", 100.0),
        fit_case("raw_bmi_deg3_lstsq_intercept", raw_bmi, target, 3, False, True, "lstsq"),
    ]

    small = standardised[:12]
    y_small = target[:12]
    duplicate = np.column_stack([small[:, col["bmi"]], small[:, col["bp"]], small[:, col["bmi"]]])
    summed = np.column_stack([small[:, 2], small[:, 3], small[:, 2] + small[:, 3], small[:, 8]])
    wide, _ = poly_features(small[:4, [col["bmi"]]], 5, True)
    bias_and_intercept, _ = poly_features(small[:, [col["bmi"]]], 2, True)
    rank_deficient = [
        rank_case("duplicate_column", duplicate, y_small, False),
        rank_case("column_is_sum_of_two_others_intercept", summed, y_small, True),
        rank_case("more_columns_than_rows", wide, y_small[:4], False),
        rank_case("bias_column_with_intercept", bias_and_intercept, y_small, True),
    ]

    rng = np.random.default_rng(20240611)
    poly_inputs = [
        ("one_input_deg4_bias", np.array([[-2.0], [-0.5], [0.0], [1.5], [3.0]]), 4, True),
        ("one_input_deg4_no_bias", np.array([[-2.0], [-0.5], [0.0], [1.5], [3.0]]), 4, False),
        ("one_input_deg0_bias", np.array([[7.0], [-1.0]]), 0, True),
        ("two_inputs_deg3_bias", rng.normal(size=(4, 2)), 3, True),
        ("three_inputs_deg2_no_bias", rng.normal(size=(3, 3)), 2, False),
        ("four_inputs_deg3_bias", rng.normal(size=(2, 4)), 3, True),
        ("diabetes_bmi_bp_s5_deg3_no_bias", three[:5], 3, False),
    ]
    polynomial_features = []
    for name, x, degree, include_bias in poly_inputs:
        out, names = poly_features(x, degree, include_bias)
        polynomial_features.append(
            {
                "name": name,
                "degree": degree,
                "include_bias": include_bias,
                "x": matrix(x),
                "names": names,
                "output": matrix(out),
            }
        )

    fixture = {
        "generator": "scripts/gen_closed_form_fixtures.py",
        "numpy_version": np.__version__,
        "polynomial_features_source": POLY_SOURCE,
        "data": "diabetes (Efron et al. 2004) from scikit-learn; first 400 rows train, last 42 test",
        "fits": fits,
        "rank_deficient": rank_deficient,
        "polynomial_features": polynomial_features,
    }
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    for case in fits:
        print(f"{case['name']}: cond {case['condition_number']:.3g}", file=sys.stderr)
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
