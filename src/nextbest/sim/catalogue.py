"""The fictional chain's fixed world: products, stores, names, phone area codes.

Everything here is constant data; population and behaviour draw from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "coffee",
    "tea",
    "bakery",
    "breakfast",
    "lunch",
    "cold_drinks",
    "beans",
    "merchandise",
)

# (sku, category, price in cents), cheapest first within a category.
_PRODUCTS: tuple[tuple[str, str, int], ...] = (
    ("CF-ESP", "coffee", 275),
    ("CF-AME", "coffee", 325),
    ("CF-CAP", "coffee", 425),
    ("CF-LAT", "coffee", 450),
    ("CF-FLW", "coffee", 475),
    ("CF-MOC", "coffee", 525),
    ("TE-BLK", "tea", 295),
    ("TE-GRN", "tea", 295),
    ("TE-CHA", "tea", 475),
    ("TE-MAT", "tea", 525),
    ("BK-CRO", "bakery", 325),
    ("BK-PAC", "bakery", 375),
    ("BK-MUF", "bakery", 350),
    ("BK-CIN", "bakery", 425),
    ("BK-BAN", "bakery", 395),
    ("BR-OAT", "breakfast", 550),
    ("BR-BAG", "breakfast", 475),
    ("BR-EGG", "breakfast", 695),
    ("BR-AVO", "breakfast", 895),
    ("LU-SOU", "lunch", 750),
    ("LU-SAL", "lunch", 1050),
    ("LU-SAN", "lunch", 995),
    ("LU-PAN", "lunch", 1125),
    ("CD-LEM", "cold_drinks", 325),
    ("CD-ICE", "cold_drinks", 425),
    ("CD-SMO", "cold_drinks", 650),
    ("BN-HOU", "beans", 1495),
    ("BN-ETH", "beans", 1895),
    ("BN-DEC", "beans", 1595),
    ("MD-MUG", "merchandise", 1800),
    ("MD-TUM", "merchandise", 2800),
    ("MD-TOT", "merchandise", 1500),
)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """SKUs as parallel arrays; ``by_category[c]`` lists SKU indices cheapest first."""

    skus: tuple[str, ...]
    categories: np.ndarray  # int8 category index per SKU
    price_cents: np.ndarray  # int64
    by_category: tuple[np.ndarray, ...]


def build_catalogue() -> Catalogue:
    skus = tuple(p[0] for p in _PRODUCTS)
    cats = np.array([CATEGORIES.index(p[1]) for p in _PRODUCTS], dtype=np.int8)
    prices = np.array([p[2] for p in _PRODUCTS], dtype=np.int64)
    by_cat = []
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(cats == c)
        by_cat.append(idx[np.argsort(prices[idx], kind="stable")])
    return Catalogue(skus=skus, categories=cats, price_cents=prices, by_category=tuple(by_cat))


# Prior mean basket share per category (Dirichlet base measure).
CATEGORY_PRIOR = np.array([0.34, 0.08, 0.2, 0.1, 0.12, 0.08, 0.05, 0.03])

# (timezone name, UTC offset in hours without DST, postcode prefix, area codes)
REGIONS: tuple[tuple[str, int, str, tuple[int, ...]], ...] = (
    ("America/New_York", -5, "10", (212, 347, 646, 718, 917, 201, 973)),
    ("America/New_York", -5, "02", (617, 781, 857, 508)),
    ("America/Chicago", -6, "60", (312, 773, 872, 630, 847)),
    ("America/Chicago", -6, "78", (512, 737, 210)),
    ("America/Denver", -7, "80", (303, 720, 970)),
    ("America/Los_Angeles", -8, "94", (415, 628, 510, 650, 408)),
    ("America/Los_Angeles", -8, "97", (503, 971, 360)),
    ("America/Los_Angeles", -8, "98", (206, 253, 425)),
)
STORES_PER_REGION = 6

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Wei", "Ashley", "Steven", "Emily", "Andrew", "Maria", "Kenji",
    "Michelle", "Joshua", "Amanda", "Kevin", "Priya", "Brian", "Melissa", "Jose", "Sofia",
    "Ryan", "Olivia", "Jacob", "Emma", "Noah", "Ava", "Ethan", "Mia", "Luis", "Chloe",
    "Omar", "Fatima", "Hiro", "Aisha", "Liam", "Grace",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Chen", "Kim", "Patel", "Singh", "Okafor", "Tanaka", "Murphy", "Cohen",
    "Rossi", "Novak",
)  # fmt: skip
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com",
    "comcast.net", "proton.me",
)  # fmt: skip
EMAIL_DOMAIN_WEIGHTS = np.array([0.45, 0.13, 0.12, 0.12, 0.08, 0.04, 0.03, 0.03])
DOMAIN_TYPOS: dict[str, str] = {
    "gmail.com": "gmial.com",
    "yahoo.com": "yaho.com",
    "outlook.com": "outlok.com",
    "icloud.com": "iclod.com",
    "hotmail.com": "hotmial.com",
    "aol.com": "aol.co",
    "comcast.net": "comcast.ent",
    "proton.me": "proton.mr",
}

MILK_OPTIONS: tuple[str, ...] = ("whole", "skim", "oat", "almond", "soy")
TICKET_TOPICS: tuple[str, ...] = (
    "missing_points",
    "wrong_order",
    "app_login",
    "card_lost",
    "refund",
    "store_experience",
)
NEGATIVE_FEEDBACK: tuple[str, ...] = (
    "Waited 20 minutes and my order was still wrong.",
    "Points from last week never showed up, support was no help.",
    "The app logged me out again and I lost my cart.",
    "Cold coffee and a rude barista. Not coming back soon.",
    "Charged twice and still waiting for the refund.",
)
NEUTRAL_FEEDBACK: tuple[str, ...] = (
    "Fine, but the line was long.",
    "Okay coffee, prices went up a bit.",
    "Issue resolved eventually.",
)
POSITIVE_FEEDBACK: tuple[str, ...] = (
    "Best flat white in the neighbourhood!",
    "Friendly staff, the croissants are always fresh.",
    "Love the app order-ahead, ready when I arrive.",
    "Great oat latte, quick service.",
    "Cosy place for weekend brunch.",
)
