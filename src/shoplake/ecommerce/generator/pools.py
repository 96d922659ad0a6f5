"""Value pools made once with Faker, then sampled with numpy.

Faker costs tens of microseconds per call, far too slow for millions of rows, so the
generator asks it for a few thousand values up front (first and last names per locale,
cities per region, e-mail domains, brand names, colours) and draws indices into these
pools afterwards. Pools are deduplicated in first-seen order (never through a `set`, whose
order changes between Python runs), so they are the same for the same seed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

from shoplake.ecommerce.generator.reference import CATEGORIES, LOCALES, REGIONS

NAME_DRAWS = 1_500
CITY_DRAWS = 60
DOMAIN_DRAWS = 300

_BRAND_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Electronics": ("Tech", "Audio", "Labs", "Digital", "Systems"),
    "Home & Kitchen": ("Home", "Living", "Kitchen", "Houseware"),
    "Fashion": ("Apparel", "Studio", "Denim", "Wear"),
    "Sports & Outdoors": ("Outdoors", "Athletics", "Gear", "Sport"),
    "Beauty": ("Beauty", "Cosmetics", "Naturals", "Skin"),
}


@dataclass(frozen=True)
class Pools:
    """Everything the sources sample names and places from."""

    first_names: dict[str, tuple[str, ...]]
    last_names: dict[str, tuple[str, ...]]
    cities: tuple[tuple[tuple[str, str], ...], ...]
    """Per region (in REGIONS order): (city, state) pairs."""
    free_email_domains: tuple[str, ...]
    other_email_domains: tuple[str, ...]
    brands: tuple[tuple[str, ...], ...]
    """Per category (in CATEGORIES order): brand names."""
    colors: tuple[str, ...]


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


@lru_cache(maxsize=65_536)
def slug(text: str) -> str:
    """ASCII, lower-case, e-mail-safe form of a name (`Müller-Lüdenscheidt` → `muller-...`)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9-]", "", ascii_text.lower()) or "user"


def _names(fake: Faker, kind: str) -> tuple[str, ...]:
    """NAME_DRAWS draws from the locale's weighted ``first_names``/``last_names`` in one
    call: ``first_name()`` weighs the whole list again on every call (0.7 s a demo)."""
    provider = next(p for p in fake.providers if hasattr(p, kind))
    return _unique(
        list(fake.random_elements(getattr(provider, kind), NAME_DRAWS, use_weighting=True))
    )


def build_pools(seed: int, brands_per_category: int) -> Pools:
    """Ask Faker (seeded with `seed`) for every pool the generator samples from."""
    fakers: dict[str, Faker] = {}
    for index, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 31 + index)
        fakers[locale] = fake

    first = {loc: _names(f, "first_names") for loc, f in fakers.items()}
    last = {loc: _names(f, "last_names") for loc, f in fakers.items()}

    cities: list[tuple[tuple[str, str], ...]] = []
    for region in REGIONS:
        fake = fakers[region.locale]
        names = _unique([fake.city() for _ in range(CITY_DRAWS)])
        cities.append(
            tuple((name, region.states[i % len(region.states)]) for i, name in enumerate(names))
        )

    us = fakers["en_US"]
    free = _unique([us.free_email_domain() for _ in range(DOMAIN_DRAWS)])
    other = _unique([us.domain_name() for _ in range(DOMAIN_DRAWS)])

    brands: list[tuple[str, ...]] = []
    for category in CATEGORIES:
        suffixes = _BRAND_SUFFIXES[category.name]
        brand_names: dict[str, None] = {}
        for _ in range(brands_per_category * 20):
            if len(brand_names) >= brands_per_category:
                break
            base = re.split(r"[\s,-]", us.last_name())[0]
            suffix = us.random.choice(suffixes)
            brand_names[base if us.random.random() < 0.45 else f"{base} {suffix}"] = None
        brands.append(tuple(brand_names))

    colors = _unique([us.color_name() for _ in range(200)])
    return Pools(
        first_names=first,
        last_names=last,
        cities=tuple(cities),
        free_email_domains=free,
        other_email_domains=other,
        brands=tuple(brands),
        colors=colors,
    )
