"""Open Bandit Dataset sample (ZOZOTOWN, CC BY 4.0), from the ``obp`` 0.4.1 wheel.

Fashion items recommended in three slots of a web page, logged by two policies over the same
week: ``random`` (uniform) and ``bts`` (Bernoulli Thompson Sampling), in three campaigns
(``all``: 80 items, ``men``: 34, ``women``: 46). Each sample log holds 10,000 impressions:
the item shown, its position (1-3), whether it was clicked and the logging policy's
probability of showing that item in that position, with four hashed user features and the
user's affinity to every item (Saito, Aihara, Matsutani & Narita, NeurIPS 2021).

The wheel also ships the Beta prior of the BTS policy per campaign (``prior_bts.yaml``), which
lets an evaluation reproduce BTS's action distribution without its logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import yaml

from nextbest.datasets.wheels import wheel_members

WHEEL = ("obp", "0.4.1")
FOLDER = "obp/dataset/obd"
PRIOR = "obp/policy/conf/prior_bts.yaml"
Policy = Literal["random", "bts"]
Campaign = Literal["all", "men", "women"]
POLICIES: tuple[Policy, ...] = ("random", "bts")
CAMPAIGNS: tuple[Campaign, ...] = ("all", "men", "women")
USER_FEATURES = 4


@dataclass(frozen=True, eq=False)
class ObdLog:
    """One logged impression per row; ``position`` is 0-based (the file's 1-3 minus 1)."""

    policy: Policy
    campaign: Campaign
    item: npt.NDArray[np.int64]
    position: npt.NDArray[np.int64]
    click: npt.NDArray[np.int64]
    propensity: npt.NDArray[np.float64]
    user_features: npt.NDArray[np.str_]
    affinity: npt.NDArray[np.float64]
    n_items: int
    source: Path

    @property
    def n_rows(self) -> int:
        return int(self.item.size)

    @property
    def n_positions(self) -> int:
        return int(self.position.max()) + 1

    @property
    def ctr(self) -> float:
        """The observed click-through rate: the on-policy value of the logging policy."""
        return float(self.click.mean())


@dataclass(frozen=True, eq=False)
class BtsPrior:
    """The Beta(alpha, beta) prior of each item's click rate used by the BTS policy."""

    alpha: npt.NDArray[np.float64]
    beta: npt.NDArray[np.float64]


def obd_paths(policy: Policy, campaign: Campaign) -> dict[str, Path]:
    """The log and item-context files of one policy and campaign, downloading on first use."""
    _check(policy, campaign)
    folder = f"{FOLDER}/{policy}/{campaign}"
    files = {"log": f"{folder}/{campaign}.csv", "items": f"{folder}/item_context.csv"}
    paths = wheel_members(*WHEEL, list(files.values()))
    return {key: paths[member] for key, member in files.items()}


def load_obd(policy: Policy = "random", campaign: Campaign = "all") -> ObdLog:
    """The logged bandit feedback of ``policy`` on ``campaign``."""
    paths = obd_paths(policy, campaign)
    n_items = pl.read_csv(paths["items"]).height
    frame = pl.read_csv(paths["log"])
    expected = {"item_id", "position", "click", "propensity_score"}
    missing = expected - set(frame.columns)
    if missing:
        raise ValueError(f"{paths['log']}: missing columns {sorted(missing)}")
    affinity_columns = [f"user-item_affinity_{j}" for j in range(n_items)]
    feature_columns = [f"user_feature_{j}" for j in range(USER_FEATURES)]
    absent = [c for c in affinity_columns + feature_columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{paths['log']}: missing columns {absent[:3]}")
    item = frame["item_id"].to_numpy().astype(np.int64)
    position = frame["position"].to_numpy().astype(np.int64) - 1
    if item.min() < 0 or item.max() >= n_items:
        raise ValueError(f"{paths['log']}: item_id outside 0..{n_items - 1}")
    if position.min() < 0:
        raise ValueError(f"{paths['log']}: position below 1")
    return ObdLog(
        policy=policy,
        campaign=campaign,
        item=item,
        position=position,
        click=frame["click"].to_numpy().astype(np.int64),
        propensity=frame["propensity_score"].to_numpy().astype(np.float64),
        user_features=frame.select(feature_columns).to_numpy().astype(np.str_),
        affinity=frame.select(affinity_columns).to_numpy().astype(np.float64),
        n_items=n_items,
        source=paths["log"],
    )


def load_bts_prior(campaign: Campaign = "all") -> BtsPrior:
    """The BTS policy's Beta prior per item for ``campaign``, as shipped with the wheel."""
    _check("bts", campaign)
    path = wheel_members(*WHEEL, [PRIOR])[PRIOR]
    data = yaml.safe_load(path.read_text())
    entry = data.get(campaign) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or "alpha" not in entry or "beta" not in entry:
        raise ValueError(f"{path}: no alpha/beta prior for campaign {campaign!r}")
    alpha = np.asarray(entry["alpha"], dtype=np.float64)
    beta = np.asarray(entry["beta"], dtype=np.float64)
    if alpha.shape != beta.shape or (alpha <= 0).any() or (beta <= 0).any():
        raise ValueError(f"{path}: invalid prior for campaign {campaign!r}")
    return BtsPrior(alpha=alpha, beta=beta)


def _check(policy: str, campaign: str) -> None:
    if policy not in POLICIES:
        raise ValueError(f"unknown OBD policy {policy!r}; expected one of {POLICIES}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"unknown OBD campaign {campaign!r}; expected one of {CAMPAIGNS}")
