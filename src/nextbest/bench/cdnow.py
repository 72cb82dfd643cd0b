"""``nextbest bench cdnow``: the published CDNOW fits, holdout forecasts, and fit speed.

(a) On the 2,357-customer CDNOW sample, calibration 1997-01-01 .. 1997-09-30 (39 weeks),
our BG/NBD, Pareto/NBD and Gamma-Gamma estimates beside the published ones (Fader, Hardie &
Lee 2005; Fader & Hardie's Gamma-Gamma note), compared to 3 significant digits. All
log-likelihoods are complete (no constant dropped): at the published parameters ours
reproduces the published values, which shows they are complete too.

(b) The holdout, weeks 40-78 (to 1998-06-30): cumulative repeat purchases forecast from
each customer's calibration history against the actual ones, and the tracking curve.

(c) Fit time on the 23,570-customer master file (same calibration) beside ``lifetimes``
0.11.3 (BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter) run in the same bench, in a
scratch virtualenv under ``~/.cache/nextbest/peers`` (``$NEXTBEST_PEERS_DIR``), on the same
summary and from the same starting point; best of ``repeats`` on both sides. Our time
includes summarising the transactions and grouping the histories; theirs starts from the
summary table. The peer's install is timed apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nextbest.analytics.btyd import (
    BGNBD,
    GammaGamma,
    ParetoNBD,
    Summary,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_paretonbd,
    gamma_gamma_log_likelihood,
    holdout_check,
    summarise,
    tracking_curve,
)
from nextbest.analytics.btyd.bgnbd import default_start as bgnbd_start
from nextbest.analytics.btyd.paretonbd import default_start as paretonbd_start
from nextbest.datasets.cdnow import CdnowTransactions, load_cdnow, load_cdnow_summary

CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
CALIBRATION_WEEKS = 39
PUBLISHED: dict[str, dict[str, Any]] = {
    "bg/nbd": {
        "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
        "log_likelihood": -9582.4,
        "source": "Fader, Hardie & Lee (2005), Counting your customers the easy way",
    },
    "pareto/nbd": {
        "params": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
        "log_likelihood": -9595.0,
        "source": "Fader, Hardie & Lee (2005), Counting your customers the easy way",
    },
    "gamma-gamma": {
        "params": {"p": 6.25, "q": 3.74, "gamma": 15.44},
        "log_likelihood": -4055.9,
        "source": "Fader & Hardie, The Gamma-Gamma Model of Monetary Value",
    },
}
PEER = "lifetimes-0.11.3"
PEER_PINS = (
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "scipy==1.11.4",
    "pandas==1.5.3",
    "autograd==1.6.2",
    "dill==0.4.1",
)
Progress = Callable[[str], None]


def significant(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits.

    >>> significant(4.41360), significant(-9582.43, 5), significant(0.0)
    (4.41, -9582.4, 0.0)
    """
    return float(f"{value:.{digits}g}") if value else 0.0


def _summary(data: CdnowTransactions, *, by_sample_id: bool) -> Summary:
    ids = data.sample_id if by_sample_id and data.sample_id is not None else data.customer_id
    return summarise(
        customer_ids=ids,
        dates=data.date,
        amounts=data.dollars,
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
    )


def _compare(
    name: str, *, ours: dict[str, float], ll: float, ll_at_published: float
) -> dict[str, Any]:
    published = PUBLISHED[name]
    rows = []
    for key, value in published["params"].items():
        rows.append(
            {
                "param": key,
                "published": value,
                "ours": ours[key],
                "matches_3_significant_digits": significant(ours[key]) == significant(value),
            }
        )
    return {
        "params": rows,
        "log_likelihood": {
            "published": published["log_likelihood"],
            "ours": ll,
            "ours_at_published_params": ll_at_published,
            "matches_3_significant_digits": (
                significant(ll, 5) == significant(published["log_likelihood"], 5)
            ),
            "convention": "complete log-likelihood, no constant term dropped",
        },
        "all_match": all(r["matches_3_significant_digits"] for r in rows)
        and significant(ll, 5) == significant(published["log_likelihood"], 5),
        "source": published["source"],
    }


def reproduce_published() -> tuple[dict[str, Any], Summary, BGNBD, ParetoNBD, GammaGamma]:
    """Part (a): our fits on the CDNOW sample beside the published ones."""
    summary = _summary(load_cdnow("sample"), by_sample_id=True)
    published = load_cdnow_summary()
    histories = summary.histories()
    bg, pn = fit_bgnbd(histories), fit_paretonbd(histories)
    x, m = summary.repeat_customers()
    gg = fit_gamma_gamma(x, m, calibration_end=CALIBRATION_END)
    assert bg.fit is not None and pn.fit is not None and gg.fit is not None
    gg_pub = gamma_gamma_log_likelihood(**PUBLISHED["gamma-gamma"]["params"], x=x, mean_spend=m)
    figures: dict[str, Any] = {
        "customers": summary.n_customers,
        "transactions": summary.n_transactions,
        "distinct_histories": histories.n_histories,
        "repeat_customers": int(x.size),
        "summary_cross_check": {
            "same_customers": summary.customer_ids.tolist() == published.id.tolist(),
            "frequency_equal": bool((summary.frequency == published.frequency).all()),
            "max_abs_recency_diff_weeks": float(np.abs(summary.t_x - published.recency).max()),
            "max_abs_T_diff_weeks": float(np.abs(summary.T - published.T).max()),
            "note": "the published table rounds weeks to 2 decimals",
        },
        "bg/nbd": _compare(
            "bg/nbd",
            ours=bg.params(),
            ll=bg.fit.log_likelihood,
            ll_at_published=BGNBD(**PUBLISHED["bg/nbd"]["params"]).log_likelihood(histories),
        ),
        "pareto/nbd": _compare(
            "pareto/nbd",
            ours=pn.params(),
            ll=pn.fit.log_likelihood,
            ll_at_published=ParetoNBD(**PUBLISHED["pareto/nbd"]["params"]).log_likelihood(
                histories
            ),
        ),
        "gamma-gamma": _compare(
            "gamma-gamma",
            ours=gg.params(),
            ll=gg.fit.log_likelihood,
            ll_at_published=float(gg_pub.sum()),
        ),
        "fits": {"bg/nbd": bg.to_dict(), "pareto/nbd": pn.to_dict(), "gamma-gamma": gg.to_dict()},
    }
    figures["gamma-gamma"]["monetary_value"] = "mean of the repeat purchases in calibration"
    return figures, summary, bg, pn, gg


def holdout_figures(summary: Summary, models: list[BGNBD | ParetoNBD]) -> dict[str, Any]:
    """Part (b): the holdout (weeks 40-78) and the tracking curve, for each count model."""
    out: dict[str, Any] = {}
    for model in models:
        check = holdout_check(model, summary, checkpoints=[1, 13, 26, 39])
        curve = tracking_curve(model, summary, at_units=[13, 26, 39, 52, 65, 78])
        out[model.name] = {
            "holdout": check.to_dict(),
            "tracking_from_week_1": [
                {
                    "week": c.units,
                    "day": c.day,
                    "forecast": c.forecast,
                    "actual": c.actual,
                    "relative_error": c.relative_error,
                }
                for c in curve
            ],
        }
    return out


def _best(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def _ours_on_master(data: CdnowTransactions, repeats: int) -> dict[str, Any]:
    def summary() -> Summary:
        return _summary(data, by_sample_id=False)

    def bg() -> BGNBD:
        return fit_bgnbd(summary().histories())

    def pn() -> ParetoNBD:
        return fit_paretonbd(summary().histories())

    def gg() -> GammaGamma:
        return fit_gamma_gamma(*summary().repeat_customers())

    prepared = summary()
    histories = prepared.histories()
    repeat = prepared.repeat_customers()
    fit_only: dict[str, Callable[[], Any]] = {
        "bg/nbd": lambda: fit_bgnbd(histories),
        "pareto/nbd": lambda: fit_paretonbd(histories),
        "gamma-gamma": lambda: fit_gamma_gamma(*repeat),
    }
    out: dict[str, Any] = {}
    for name, run in (("bg/nbd", bg), ("pareto/nbd", pn), ("gamma-gamma", gg)):
        seconds, model = _best(repeats, run)
        fit_seconds, _ = _best(repeats, fit_only[name])
        out[name] = {"seconds": seconds, "fit_only_seconds": fit_seconds, **model.to_dict()}

    def all_three() -> None:  # what a user runs: one summary, three models
        prepared = summary()
        grouped = prepared.histories()
        fit_bgnbd(grouped)
        fit_paretonbd(grouped)
        fit_gamma_gamma(*prepared.repeat_customers())

    seconds, _ = _best(repeats, all_three)
    fit_seconds = sum(out[name]["fit_only_seconds"] for name in fit_only)
    out["all three"] = {"seconds": seconds, "fit_only_seconds": fit_seconds}
    return out


def peers_dir() -> Path:
    configured = os.environ.get("NEXTBEST_PEERS_DIR")
    root = Path(configured).expanduser() if configured else Path.home() / ".cache/nextbest/peers"
    return root / PEER


def ensure_peer(progress: Progress) -> tuple[Path | None, dict[str, Any]]:
    """The peer's python, installing it on first use; ``None`` (and why) when impossible."""
    home = peers_dir()
    python = home / "bin" / "python"
    marker = home / ".installed"
    pins = "\n".join(PEER_PINS)
    if python.exists() and marker.exists() and marker.read_text() == pins:
        return python, {"installed_now": False, "install_seconds": 0.0, "path": str(home)}
    progress(f"installing the peer {PEER} into {home} (once)")
    started = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(home)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *PEER_PINS,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        reason = (detail.strip().splitlines() or [type(exc).__name__])[-1]
        return None, {"installed_now": False, "error": f"peer install failed: {reason}"}
    marker.write_text(pins)
    seconds = time.perf_counter() - started
    return python, {"installed_now": True, "install_seconds": seconds, "path": str(home)}


PEER_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

cfg = json.loads(sys.argv[1])
data = pd.read_csv(cfg["summary"], float_precision="round_trip")
repeat = data[data["frequency"] > 0]
repeat = repeat[repeat["monetary_value"] > 0]
scale = 1.0 / data["T"].max()  # lifetimes fits in time scaled to max(T) = 1
bg, pn, gg = cfg["start"]["bg/nbd"], cfg["start"]["pareto/nbd"], cfg["start"]["gamma-gamma"]
runs = {
    "bg/nbd": lambda: BetaGeoFitter().fit(
        data["frequency"], data["recency"], data["T"],
        initial_params=np.log([bg["r"], bg["alpha"] * scale, bg["a"], bg["b"]])),
    "pareto/nbd": lambda: ParetoNBDFitter().fit(
        data["frequency"], data["recency"], data["T"],
        initial_params=np.array([pn["r"], pn["alpha"] * scale, pn["s"], pn["beta"] * scale])),
    "gamma-gamma": lambda: GammaGammaFitter().fit(
        repeat["frequency"], repeat["monetary_value"],
        initial_params=np.log([gg["p"], gg["q"], gg["gamma"]])),
}
out = {"lifetimes": lifetimes.__version__, "numpy": np.__version__, "pandas": pd.__version__}
for name, run in runs.items():
    best, model = float("inf"), None
    for _ in range(cfg["repeats"]):
        started = time.perf_counter()
        model = run()
        best = min(best, time.perf_counter() - started)
    params = {k: float(v) for k, v in model.params_.items()}
    if "v" in params:
        params = {"p": params["p"], "q": params["q"], "gamma": params["v"]}
    out[name] = {"seconds": best, "params": params}
print(json.dumps(out))
"""


def _run_peer(python: Path, *, summary: Summary, repeats: int) -> dict[str, Any]:
    histories = summary.histories()
    _, m = summary.repeat_customers()
    start = {
        "bg/nbd": bgnbd_start(histories),
        "pareto/nbd": paretonbd_start(histories),
        "gamma-gamma": {"p": 1.0, "q": 2.0, "gamma": float(m[m > 0].mean())},
    }
    with tempfile.TemporaryDirectory(prefix="nextbest-peer-") as tmp:
        path = Path(tmp) / "summary.csv"
        monetary = np.where(summary.frequency > 0, np.nan_to_num(summary.monetary), 0.0)
        table = np.stack([summary.x, summary.t_x, summary.T, monetary], axis=1)
        header = "frequency,recency,T,monetary_value"
        np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.17g")
        config = {"summary": str(path), "repeats": repeats, "start": start}
        done = subprocess.run(
            [str(python), "-c", PEER_SCRIPT, json.dumps(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=1_800,
        )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"peer run failed: {tail}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["start"] = start
    return result


def _peer_ll(name: str, *, params: dict[str, float], summary: Summary) -> float:
    p = params
    if name == "bg/nbd":
        bg = BGNBD(r=p["r"], alpha=p["alpha"], a=p["a"], b=p["b"])
        return bg.log_likelihood(summary.histories())
    if name == "pareto/nbd":
        pn = ParetoNBD(r=p["r"], alpha=p["alpha"], s=p["s"], beta=p["beta"])
        return pn.log_likelihood(summary.histories())
    x, m = summary.repeat_customers()
    keep = m > 0
    return float(gamma_gamma_log_likelihood(**params, x=x[keep], mean_spend=m[keep]).sum())


def master_timing(*, repeats: int, with_peer: bool, progress: Progress) -> dict[str, Any]:
    """Part (c): fit times on the master file, ours beside lifetimes'."""
    data = load_cdnow("master")
    summary = _summary(data, by_sample_id=False)
    progress(f"master: {summary.n_customers:,} customers; our fits, best of {repeats}")
    ours = _ours_on_master(data, repeats)
    out: dict[str, Any] = {
        "customers": summary.n_customers,
        "transactions": data.n_transactions,
        "distinct_histories": summary.histories().n_histories,
        "repeats": repeats,
        "timing": f"best of {repeats}; ours includes summarising transactions and grouping",
        "ours": ours,
    }
    peer: dict[str, Any] = {"name": PEER}
    if with_peer:
        python, install = ensure_peer(progress)
        peer["install"] = install
        if python is not None:
            progress(f"master: lifetimes fits, best of {repeats}")
            peer.update(_run_peer(python, summary=summary, repeats=repeats))
        else:
            peer["error"] = install["error"]
    else:
        peer["error"] = "skipped (--no-peer)"
    out["peer"] = peer
    ratios: dict[str, float | None] = {}
    fit_ratios: dict[str, float | None] = {}
    for name in ("bg/nbd", "pareto/nbd", "gamma-gamma"):
        theirs = peer.get(name)
        if isinstance(theirs, dict):
            ratios[name] = theirs["seconds"] / ours[name]["seconds"]
            fit_ratios[name] = theirs["seconds"] / ours[name]["fit_only_seconds"]
            theirs["log_likelihood_by_ours"] = _peer_ll(
                name, params=theirs["params"], summary=summary
            )
        else:
            ratios[name] = fit_ratios[name] = None
    fits = [peer.get(n) for n in ("bg/nbd", "pareto/nbd", "gamma-gamma")]
    if all(isinstance(f, dict) for f in fits):
        total = sum(f["seconds"] for f in fits if isinstance(f, dict))
        peer["all three"] = {"seconds": total}
        ratios["all three"] = total / ours["all three"]["seconds"]
        fit_ratios["all three"] = total / ours["all three"]["fit_only_seconds"]
    else:
        ratios["all three"] = fit_ratios["all three"] = None
    out["ratio_peer_to_ours"] = ratios
    out["ratio_peer_to_our_fit_only"] = fit_ratios
    return out


def run_cdnow_bench(
    *, repeats: int = 3, with_peer: bool = True, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """All three parts; one JSON-ready dict with units."""
    progress("CDNOW sample: fitting BG/NBD, Pareto/NBD, Gamma-Gamma")
    published, summary, bg, pn, _ = reproduce_published()
    progress("CDNOW sample: holdout weeks 40-78")
    holdout = holdout_figures(summary, [bg, pn])
    timing = master_timing(repeats=repeats, with_peer=with_peer, progress=progress)
    return {
        "units": {
            "seconds": "s",
            "t_x, T, weeks": "weeks",
            "purchases": "repeat purchases (purchase days after the first)",
            "log_likelihood": "nats",
            "ratio_peer_to_ours": "peer seconds / our seconds",
        },
        "calibration": {"start": "1997-01-01", "end": CALIBRATION_END, "weeks": 39},
        "holdout": {"end": HOLDOUT_END, "weeks": "40-78"},
        "published": published,
        "holdout_forecasts": holdout,
        "master_fit_time": timing,
        "goal": {"ratio_at_least": 10.0},
    }
