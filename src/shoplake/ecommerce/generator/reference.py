"""Static reference data of the shop: regions, categories and price bands, enumerations.

Everything here is fixed by the data contract (docs/data-contract.md) or is a modelling
choice of the generator; nothing is random. Weights need not sum to one: users normalise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """One sales region: its canonical id, name, country, states and Faker locale."""

    region_id: str
    name: str
    country: str
    states: tuple[str, ...]
    locale: str
    phone_prefix: str
    weight: float


REGIONS: tuple[Region, ...] = (
    Region(
        "R01",
        "US Northeast",
        "United States",
        ("New York", "Massachusetts", "Pennsylvania", "New Jersey", "Connecticut"),
        "en_US",
        "+1",
        14.0,
    ),
    Region(
        "R02",
        "US Southeast",
        "United States",
        ("Florida", "Georgia", "North Carolina", "Virginia", "Tennessee"),
        "en_US",
        "+1",
        14.0,
    ),
    Region(
        "R03",
        "US Midwest",
        "United States",
        ("Illinois", "Ohio", "Michigan", "Minnesota", "Wisconsin"),
        "en_US",
        "+1",
        12.0,
    ),
    Region(
        "R04",
        "US Southwest",
        "United States",
        ("Texas", "Arizona", "New Mexico", "Oklahoma", "Nevada"),
        "en_US",
        "+1",
        12.0,
    ),
    Region(
        "R05",
        "US West",
        "United States",
        ("California", "Washington", "Oregon", "Colorado", "Utah"),
        "en_US",
        "+1",
        15.0,
    ),
    Region(
        "R06",
        "Canada East",
        "Canada",
        ("Ontario", "Quebec", "Nova Scotia", "New Brunswick"),
        "en_CA",
        "+1",
        7.0,
    ),
    Region(
        "R07",
        "Canada West",
        "Canada",
        ("British Columbia", "Alberta", "Manitoba", "Saskatchewan"),
        "en_CA",
        "+1",
        5.0,
    ),
    Region(
        "R08",
        "United Kingdom",
        "United Kingdom",
        ("England", "Scotland", "Wales", "Northern Ireland"),
        "en_GB",
        "+44",
        9.0,
    ),
    Region(
        "R09",
        "Germany",
        "Germany",
        ("Bavaria", "Berlin", "Hamburg", "Hesse", "North Rhine-Westphalia"),
        "de_DE",
        "+49",
        7.0,
    ),
    Region(
        "R10",
        "France",
        "France",
        (
            "Île-de-France",
            "Auvergne-Rhône-Alpes",
            "Occitanie",
            "Nouvelle-Aquitaine",
            "Provence-Alpes-Côte d'Azur",
        ),
        "fr_FR",
        "+33",
        5.0,
    ),
)

LOCALES: tuple[str, ...] = tuple(dict.fromkeys(r.locale for r in REGIONS))


@dataclass(frozen=True)
class Category:
    """A product category with its price band (log-uniform between low and high)."""

    name: str
    low: float
    high: float
    weight: float
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "Electronics",
        50.0,
        2000.0,
        20.0,
        (
            "Headphones",
            "Speaker",
            "Monitor",
            "Laptop",
            "Tablet",
            "Smartwatch",
            "Camera",
            "Router",
            "Keyboard",
            "Mouse",
            "Earbuds",
            "Projector",
            "Drone",
            "Soundbar",
            "Power Bank",
        ),
        (
            "Wireless",
            "Smart",
            "Pro",
            "Ultra",
            "Portable",
            "Compact",
            "HD",
            "Gaming",
            "Noise-Cancelling",
            "Mini",
            "Max",
        ),
    ),
    Category(
        "Home & Kitchen",
        15.0,
        500.0,
        25.0,
        (
            "Blender",
            "Coffee Maker",
            "Cookware Set",
            "Knife Set",
            "Toaster",
            "Air Fryer",
            "Vacuum",
            "Lamp",
            "Bedding Set",
            "Towel Set",
            "Kettle",
            "Storage Box",
            "Dinnerware Set",
            "Cutting Board",
        ),
        (
            "Stainless",
            "Ceramic",
            "Nonstick",
            "Cordless",
            "Classic",
            "Modern",
            "Deluxe",
            "Eco",
            "Compact",
            "Premium",
        ),
    ),
    Category(
        "Fashion",
        10.0,
        300.0,
        25.0,
        (
            "T-Shirt",
            "Jeans",
            "Jacket",
            "Sneakers",
            "Dress",
            "Sweater",
            "Boots",
            "Backpack",
            "Scarf",
            "Hoodie",
            "Shorts",
            "Belt",
            "Sunglasses",
            "Cap",
        ),
        (
            "Slim",
            "Classic",
            "Vintage",
            "Organic Cotton",
            "Oversized",
            "Casual",
            "Linen",
            "Leather",
            "Knit",
            "Everyday",
        ),
    ),
    Category(
        "Sports & Outdoors",
        15.0,
        800.0,
        15.0,
        (
            "Yoga Mat",
            "Tent",
            "Bicycle",
            "Running Shoes",
            "Dumbbell Set",
            "Sleeping Bag",
            "Water Bottle",
            "Hiking Pack",
            "Tennis Racket",
            "Helmet",
            "Kayak Paddle",
            "Fitness Tracker",
        ),
        (
            "Ultralight",
            "Trail",
            "Pro",
            "All-Weather",
            "Adjustable",
            "Foldable",
            "Insulated",
            "Carbon",
            "Training",
        ),
    ),
    Category(
        "Beauty",
        5.0,
        150.0,
        15.0,
        (
            "Moisturizer",
            "Serum",
            "Shampoo",
            "Lipstick",
            "Perfume",
            "Face Mask",
            "Sunscreen",
            "Hair Dryer",
            "Nail Polish",
            "Cleanser",
            "Body Lotion",
        ),
        (
            "Hydrating",
            "Organic",
            "Vegan",
            "Matte",
            "Radiant",
            "Gentle",
            "Revitalizing",
            "Fragrance-Free",
            "Daily",
        ),
    ),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)

ORDER_STATUSES: tuple[str, ...] = (
    "pending",
    "processing",
    "shipped",
    "delivered",
    "cancelled",
    "returned",
)
PENDING, PROCESSING, SHIPPED, DELIVERED, CANCELLED, RETURNED = range(6)

CHANNELS: tuple[str, ...] = ("web", "mobile", "store", "marketplace")
CHANNEL_WEIGHTS: tuple[float, ...] = (45.0, 35.0, 12.0, 8.0)

PAYMENT_METHODS: tuple[str, ...] = ("card", "paypal", "bank_transfer", "gift_card")
PAYMENT_WEIGHTS: tuple[float, ...] = (60.0, 22.0, 8.0, 10.0)

CURRENCY = "USD"

RETURN_REASONS: tuple[str, ...] = (
    "damaged",
    "defective",
    "wrong_item",
    "not_as_described",
    "too_small",
    "too_large",
    "changed_mind",
    "arrived_late",
)
RETURN_REASON_WEIGHTS: tuple[float, ...] = (14.0, 16.0, 8.0, 14.0, 12.0, 10.0, 20.0, 6.0)

COUPON_CODES: tuple[str, ...] = ("WELCOME10", "SAVE15", "FREESHIP", "VIP20", "SEASON25")

# Lines per order: 1..5, mean ~2.2.
LINES_PER_ORDER_WEIGHTS: tuple[float, ...] = (36.0, 30.0, 17.0, 10.0, 7.0)
# Quantity per line: 1..5.
QUANTITY_WEIGHTS: tuple[float, ...] = (72.0, 17.0, 6.0, 3.0, 2.0)
DISCOUNTS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25)
DISCOUNT_WEIGHTS: tuple[float, ...] = (74.0, 8.0, 8.0, 4.0, 4.0, 2.0)

CANCEL_RATE = 0.05
RETURN_LINE_RATE = 0.045
COUPON_RATE = 0.15
