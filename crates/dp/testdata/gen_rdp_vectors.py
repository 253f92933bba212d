#!/usr/bin/env python3
"""Generate known-answer vectors for fedhe-dp's RDP accountant from Google's
dp-accounting (PyPI `dp-accounting`, version recorded in the output).

Usage (the Rust tests only read the committed JSON, they never run Python):

    python3 -m venv /tmp/dpvenv && /tmp/dpvenv/bin/pip install dp-accounting
    /tmp/dpvenv/bin/python crates/dp/testdata/gen_rdp_vectors.py \
        > crates/dp/testdata/rdp_vectors.json
    (cd crates/dp/testdata && sha256sum rdp_vectors.json > SHA256SUMS)

The output is deterministic for a given dp-accounting/numpy/scipy version.
`SHA256SUMS` next to this script holds the checksum of the committed output.

Contents:
  * `orders`: dp_accounting's DEFAULT_RDP_ORDERS (156 orders).
  * `rdp`: one-step RDP of the Poisson-subsampled Gaussian for each
    (noise multiplier z, sampling rate q) on that grid; `null` marks an order
    that dp_accounting excludes (+inf, e.g. the fractional-order series did
    not converge within 1000 terms).
  * `epsilon`: (epsilon, optimal order) of T-fold composition at delta, from
    `RdpAccountant.get_epsilon_and_optimal_order`.
  * `calibration`: the smallest z whose epsilon is <= target, from
    `dp_accounting.calibrate_dp_mechanism` with tol = 1e-12.
"""
import json
import math
import sys
from importlib import metadata

import dp_accounting
from dp_accounting import rdp as dp_rdp

ZS = [0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]
QS = [1.0, 0.1, 0.01]
TS = [1, 10, 100, 1000]
DELTAS = [1e-5, 1e-6]
CALIB = [
    # (target epsilon, q, T, delta)
    (1.0, 0.01, 1000, 1e-5),
    (3.0, 0.01, 1000, 1e-5),
    (8.0, 0.01, 1000, 1e-5),
    (2.0, 0.1, 100, 1e-5),
    (5.0, 0.1, 100, 1e-6),
    (1.0, 1.0, 1, 1e-5),
    (4.0, 1.0, 10, 1e-6),
    (0.5, 0.01, 100, 1e-6),
]


def event(z, q):
    return dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z))


def finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def main():
    orders = list(dp_rdp.rdp_privacy_accountant.DEFAULT_RDP_ORDERS)
    out = {
        "generator": "crates/dp/testdata/gen_rdp_vectors.py",
        "dp_accounting_version": metadata.version("dp-accounting"),
        "orders": orders,
        "rdp": [],
        "epsilon": [],
        "calibration": [],
    }
    for z in ZS:
        for q in QS:
            acc = dp_rdp.RdpAccountant(orders)
            acc.compose(event(z, q), 1)
            out["rdp"].append(
                {"z": z, "q": q, "rdp": [finite_or_none(r) for r in acc._rdp]}
            )
            for t in TS:
                acc = dp_rdp.RdpAccountant(orders)
                acc.compose(event(z, q), t)
                for delta in DELTAS:
                    eps, order = acc.get_epsilon_and_optimal_order(delta)
                    out["epsilon"].append(
                        {"z": z, "q": q, "t": t, "delta": delta,
                         "epsilon": float(eps), "order": float(order)}
                    )
    for target, q, t, delta in CALIB:
        z = dp_accounting.calibrate_dp_mechanism(
            lambda: dp_rdp.RdpAccountant(orders),
            lambda z, q=q, t=t: dp_accounting.SelfComposedDpEvent(event(z, q), t),
            target, delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(0.05, 50.0),
            tol=1e-12,
        )
        out["calibration"].append(
            {"epsilon": target, "q": q, "t": t, "delta": delta, "noise_multiplier": float(z)}
        )
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
