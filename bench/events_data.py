"""A deterministic stream of realistic e-commerce events, shaped as `POST /api/track` bodies.

Event `i` depends only on the seed, `i` and the stream's size, so a run can regenerate any slice
(a batch, one single event, the reference load) without keeping a million events in memory.
Events are generated in chunks of `CHUNK` from a random generator seeded by (seed, chunk).

- About `events / profiles_ratio` profiles, identified by email; activity is skewed (the most
  active 1% of people send about a tenth of the events), as on a real shop.
- Times increase with `i` over `span` before `anchor`, with up to an hour of disorder, as a
  stream of SDK events does; every event carries its time and a `unique_id`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CHUNK = 1000
# Fixed, so that the same seed gives the same events on any day (well inside the partitions the
# migration creates and the time window ingestion accepts).
DEFAULT_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_SPAN = timedelta(days=90)
JITTER_MS = 3_600_000

# (name, weight): roughly the funnel of a small shop.
EVENT_MIX: tuple[tuple[str, int], ...] = (
    ("Active on Site", 26),
    ("Viewed Product", 34),
    ("Viewed Category", 10),
    ("Searched Site", 6),
    ("Added to Cart", 11),
    ("Started Checkout", 5),
    ("Placed Order", 3),
    ("Ordered Product", 4),
    ("Subscribed to List", 1),
)

_ADJECTIVES = (
    "Classic", "Everyday", "Trail", "Urban", "Organic", "Merino", "Vintage", "Ultralight",
    "Waterproof", "Cozy", "Slim", "Relaxed", "Heritage", "Performance", "Recycled", "Linen",
)  # fmt: skip
_NOUNS = (
    "Sneaker", "Hoodie", "Backpack", "Jacket", "Tee", "Beanie", "Sock Pack", "Water Bottle",
    "Chino", "Parka", "Tote", "Running Short", "Cardigan", "Rain Shell", "Cap", "Duffel",
)  # fmt: skip
_BRANDS = ("Northwind", "Fjordline", "Acme Outdoor", "Larkspur", "Bramble & Co", "Kestrel")
_CATEGORIES = {
    "Footwear": ("Running", "Trail", "Casual"),
    "Apparel": ("Tops", "Bottoms", "Outerwear", "Knitwear"),
    "Accessories": ("Bags", "Headwear", "Drinkware"),
}
_PAGES = ("/", "/collections/new", "/collections/sale", "/about", "/blog/trail-guide", "/faq")
_REFERRERS = ("https://www.google.com/", "https://www.instagram.com/", "", "newsletter", "")
_SEARCHES = ("rain jacket", "wool socks", "trail shoes", "gift card", "backpack 30l", "beanie")
_LISTS = ("Newsletter", "Product updates", "VIP")
_DISCOUNTS = ("WELCOME10", "SPRING15", "FREESHIP")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    brand: str
    category: str
    subcategory: str
    price: float


def _catalog(seed: int, size: int = 400) -> list[Product]:
    rng = random.Random(f"catalog:{seed}")
    products = []
    for number in range(size):
        category = rng.choice(sorted(_CATEGORIES))
        products.append(
            Product(
                sku=f"SKU-{10000 + number}",
                name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
                brand=rng.choice(_BRANDS),
                category=category,
                subcategory=rng.choice(_CATEGORIES[category]),
                price=round(rng.uniform(9, 240), 2),
            )
        )
    return products


def email_of(profile_number: int) -> str:
    return f"shopper{profile_number:07d}@example.com"


class EventStream:
    """Events 0 .. total-1 of one seeded stream."""

    def __init__(
        self,
        total: int,
        *,
        seed: int = 42,
        profiles: int | None = None,
        anchor: datetime = DEFAULT_ANCHOR,
        span: timedelta = DEFAULT_SPAN,
    ) -> None:
        if total < 1:
            raise ValueError("the stream needs at least one event")
        self.total = total
        self.seed = seed
        self.profiles = max(1, profiles if profiles is not None else total // 20)
        self._start_ms = int((anchor - span).timestamp() * 1000)
        self._span_ms = int(span.total_seconds() * 1000)
        self._anchor_ms = int(anchor.timestamp() * 1000)
        self._products = _catalog(seed)
        self._names = [name for name, _ in EVENT_MIX]
        self._weights = [weight for _, weight in EVENT_MIX]
        self._cache: dict[int, list[dict[str, Any]]] = {}

    def unique_id(self, index: int) -> str:
        return f"bench-{self.seed}-{index:08d}"

    def chunk(self, number: int) -> list[dict[str, Any]]:
        """Events number*CHUNK .. (number+1)*CHUNK - 1 (fewer in the last chunk)."""
        cached = self._cache.get(number)
        if cached is not None:
            return cached
        first = number * CHUNK
        last = min(self.total, first + CHUNK)
        if first >= last:
            raise IndexError(f"chunk {number} is past the end of the stream")
        rng = random.Random(self.seed * 1_000_003 + number)
        names = rng.choices(self._names, self._weights, k=last - first)
        events = [
            self._event(rng, index, name)
            for index, name in zip(range(first, last), names, strict=True)
        ]
        if len(self._cache) >= 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[number] = events
        return events

    def event(self, index: int) -> dict[str, Any]:
        return self.chunk(index // CHUNK)[index % CHUNK]

    def events(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        """Events start .. stop - 1, in order."""
        index = start
        while index < stop:
            chunk = self.chunk(index // CHUNK)
            offset = index % CHUNK
            take = chunk[offset : offset + (stop - index)]
            yield from take
            index += len(take)

    def _time(self, rng: random.Random, index: int) -> str:
        millis = self._start_ms + self._span_ms * index // self.total
        millis += rng.randint(-JITTER_MS, JITTER_MS)
        millis = min(max(millis, self._start_ms), self._anchor_ms)
        moment = datetime.fromtimestamp(millis / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _event(self, rng: random.Random, index: int, name: str) -> dict[str, Any]:
        # Skewed activity: density proportional to 1/sqrt(x) over the profile numbers.
        profile = int(self.profiles * rng.random() ** 2)
        event: dict[str, Any] = {
            "event": name,
            "profile": {"email": email_of(profile)},
            "properties": self._properties(rng, name),
            "time": self._time(rng, index),
            "unique_id": self.unique_id(index),
        }
        if name in ("Placed Order", "Started Checkout", "Ordered Product"):
            event["value"] = event["properties"].pop("$value")
        return event

    def _product(self, rng: random.Random) -> Product:
        return self._products[int(len(self._products) * rng.random() ** 1.5)]

    def _product_properties(self, product: Product) -> dict[str, Any]:
        return {
            "ProductID": product.sku,
            "ProductName": product.name,
            "Brand": product.brand,
            "Categories": [product.category, product.subcategory],
            "Price": product.price,
            "URL": f"https://shop.example.com/products/{product.sku.lower()}",
        }

    def _properties(self, rng: random.Random, name: str) -> dict[str, Any]:
        if name == "Active on Site":
            return {
                "page": rng.choice(_PAGES),
                "referrer": rng.choice(_REFERRERS),
                "device": rng.choice(("desktop", "mobile", "mobile", "tablet")),
            }
        if name in ("Viewed Product", "Added to Cart"):
            properties = self._product_properties(self._product(rng))
            if name == "Added to Cart":
                properties["Quantity"] = rng.choice((1, 1, 1, 2, 3))
            return properties
        if name == "Viewed Category":
            category = rng.choice(sorted(_CATEGORIES))
            return {"Category": category, "Subcategory": rng.choice(_CATEGORIES[category])}
        if name == "Searched Site":
            return {"query": rng.choice(_SEARCHES), "results": rng.randint(0, 60)}
        if name == "Subscribed to List":
            return {"list": rng.choice(_LISTS), "source": rng.choice(("footer", "popup"))}
        items = [self._product(rng) for _ in range(rng.choice((1, 1, 2, 3, 4)))]
        if name == "Ordered Product":
            properties = self._product_properties(items[0])
            properties["OrderId"] = f"ORD-{rng.randint(100000, 999999)}"
            properties["$value"] = items[0].price
            return properties
        total = round(sum(item.price for item in items), 2)
        properties = {
            "ItemNames": [item.name for item in items],
            "ItemCount": len(items),
            "Items": [
                {"ProductID": item.sku, "Price": item.price, "Quantity": 1} for item in items
            ],
            "$value": total,
        }
        if name == "Placed Order":
            properties["OrderId"] = f"ORD-{rng.randint(100000, 999999)}"
            if rng.random() < 0.2:
                properties["DiscountCode"] = rng.choice(_DISCOUNTS)
        else:
            properties["CheckoutURL"] = "https://shop.example.com/checkout"
        return properties
