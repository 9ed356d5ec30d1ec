"""Static reference data of the generator: organizations, product templates, names, alert types.

Names deliberately carry umlauts, accents, a ligature and emoji, because real kiosk and product names do and a
pipeline must carry them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrgSeed:
    id: int
    name: str
    type: str
    parent_id: int | None
    country: str
    country_code: str
    currency: str
    city: str
    postal_code: str
    address: str
    timezone: str
    lang: str


# Ids are fixed so tests and per-organization API clients can name them.
ORGANIZATIONS: tuple[OrgSeed, ...] = (
    OrgSeed(
        1,
        "Livello Platform",
        "GENERAL",
        None,
        "Germany",
        "DE",
        "EUR",
        "Düsseldorf",
        "40210",
        "Königsallee 1",
        "Europe/Berlin",
        "de",
    ),
    OrgSeed(
        2,
        "Frischeküche GmbH",
        "CLIENT",
        1,
        "Germany",
        "DE",
        "EUR",
        "Köln",
        "50667",
        "Hohe Straße 12",
        "Europe/Berlin",
        "de",
    ),
    OrgSeed(
        3,
        "Zürcher Genuss AG",
        "CLIENT",
        1,
        "Switzerland",
        "CH",
        "CHF",
        "Zürich",
        "8001",
        "Bahnhofstrasse 42",
        "Europe/Zurich",
        "de",
    ),
    OrgSeed(
        4,
        "Brew & Bite Ltd",
        "CLIENT",
        1,
        "United Kingdom",
        "GB",
        "GBP",
        "London",
        "EC1A 1BB",
        "12 Aldersgate Street",
        "Europe/London",
        "en",
    ),
    OrgSeed(
        5,
        "Frischeküche Berlin",
        "CLIENT",
        2,
        "Germany",
        "DE",
        "EUR",
        "Berlin",
        "10117",
        "Friedrichstraße 101",
        "Europe/Berlin",
        "de",
    ),
    OrgSeed(
        6,
        "Frischeküche München",
        "CLIENT",
        2,
        "Germany",
        "DE",
        "EUR",
        "München",
        "80331",
        "Marienplatz 8",
        "Europe/Berlin",
        "de",
    ),
    OrgSeed(
        7,
        "Genève Gourmet Sàrl",
        "CLIENT",
        3,
        "Switzerland",
        "CH",
        "CHF",
        "Genève",
        "1204",
        "Rue du Rhône 30",
        "Europe/Zurich",
        "fr",
    ),
    OrgSeed(
        8,
        "Alpenmilch Manufaktur AG",
        "MANUFACTURER",
        1,
        "Switzerland",
        "CH",
        "CHF",
        "Bern",
        "3011",
        "Marktgasse 5",
        "Europe/Zurich",
        "de",
    ),
    OrgSeed(
        9,
        "Nordsee Snacks GmbH",
        "MANUFACTURER",
        1,
        "Germany",
        "DE",
        "EUR",
        "Hamburg",
        "20095",
        "Mönckebergstraße 7",
        "Europe/Berlin",
        "de",
    ),
)

# Kiosk i (0-based) belongs to KIOSK_ORG_CYCLE[i % len]; the first three already cover EUR, CHF and GBP.
KIOSK_ORG_CYCLE: tuple[int, ...] = (5, 3, 4, 6, 7, 2, 5, 3, 6, 4, 2, 7)

# The top-level CLIENT organizations own the catalogs; kiosks of their sub-organizations sell those products.
CATALOG_ORGS: tuple[int, ...] = (2, 3, 4)

# Price multiplier of each catalog's currency relative to the EUR template price.
CURRENCY_PRICE_FACTOR: dict[str, float] = {"EUR": 1.0, "CHF": 1.15, "GBP": 0.88}

# (standard, reduced) VAT in percent per country; food is "reduced", drinks and non-food "standard".
VAT_BY_COUNTRY: dict[str, tuple[tuple[str, float], tuple[str, float]]] = {
    "DE": (("Regelsteuersatz", 19.0), ("Ermäßigter Steuersatz", 7.0)),
    "CH": (("Normalsatz", 8.1), ("Reduzierter Satz", 2.6)),
    "GB": (("Standard rate", 20.0), ("Zero rate", 0.0)),
}


@dataclass(frozen=True)
class ProductTemplate:
    name: str
    category: str | None
    manufacturer: str
    price_eur: float
    cost_ratio: float
    reduced_vat: bool
    shelf_life_days: int | None
    weight_grams: int


PRODUCT_TEMPLATES: tuple[ProductTemplate, ...] = (
    ProductTemplate("Käsespätzle mit Röstzwiebeln", "Hauptgericht", "Frischeküche", 7.90, 0.42, True, 3, 400),
    ProductTemplate("Crème brûlée", "Dessert", "Pâtisserie Lumière", 3.50, 0.38, True, 4, 120),
    ProductTemplate("Bircher Müesli 🍓", "Frühstück", "Alpenmilch", 3.90, 0.35, True, 3, 250),
    ProductTemplate("Club Sandwich Hähnchen", "Sandwich", "Frischeküche", 4.90, 0.40, True, 2, 220),
    ProductTemplate("Caesar Salad", "Salat", "GreenBowl", 6.50, 0.41, True, 2, 300),
    ProductTemplate("Quinoa Bowl Açaí", "Bowl", "GreenBowl", 7.50, 0.44, True, 2, 350),
    ProductTemplate("Laugenbrezel 🥨", "Backwaren", "Bäckerei Müller", 1.20, 0.30, True, 1, 90),
    ProductTemplate("Franzbrötchen", "Backwaren", "Bäckerei Müller", 1.80, 0.30, True, 2, 110),
    ProductTemplate("Apfelschorle 0,5 l", "Getränke", "Quellwerk", 2.20, 0.28, False, 270, 520),
    ProductTemplate("Mineralwasser still 0,5 l", "Getränke", "Quellwerk", 1.50, 0.20, False, 365, 510),
    ProductTemplate("Mineralwasser spritzig 0,5 l", "Getränke", "Quellwerk", 1.50, 0.20, False, 365, 510),
    ProductTemplate("Cold Brew Kaffee ☕", "Getränke", "Rösterei Süd", 3.40, 0.33, False, 60, 260),
    ProductTemplate("Matcha Latte", "Getränke", "Rösterei Süd", 3.80, 0.36, False, 21, 260),
    ProductTemplate("Orangensaft frisch gepresst", "Getränke", "Saftladen", 3.20, 0.45, False, 5, 330),
    ProductTemplate("Smoothie Mango-Maracuja", "Getränke", "Saftladen", 3.60, 0.40, False, 7, 250),
    ProductTemplate("Kombucha Ingwer", "Getränke", "Fermentis", 3.30, 0.37, False, 90, 330),
    ProductTemplate("Naturjoghurt 3,8 %", "Molkerei", "Alpenmilch", 1.40, 0.35, True, 14, 150),
    ProductTemplate("Skyr Heidelbeere", "Molkerei", "Alpenmilch", 1.90, 0.36, True, 14, 150),
    ProductTemplate("Gruyère-Würfel", "Snack", "Fromagerie Genève", 3.20, 0.48, True, 21, 100),
    ProductTemplate("Hummus & Gemüsesticks", "Snack", "GreenBowl", 3.90, 0.40, True, 3, 180),
    ProductTemplate("Nussmischung geröstet", "Snack", "Nordsee Snacks", 2.90, 0.32, True, 180, 100),
    ProductTemplate("Kartoffelchips Meersalz", "Snack", "Nordsee Snacks", 1.90, 0.25, True, 120, 75),
    ProductTemplate("Fischbrötchen Matjes 🐟", "Sandwich", "Nordsee Snacks", 4.20, 0.45, True, 1, 180),
    ProductTemplate("Zartbitterschokolade 70 %", "Süßwaren", "Chocolat Zürich", 2.80, 0.30, True, 365, 100),
    ProductTemplate("Müsliriegel Hafer-Honig", "Süßwaren", "Alpenmilch", 1.30, 0.28, True, 240, 40),
    ProductTemplate("Energy Drink", "Getränke", "Quellwerk", 2.40, 0.30, False, 365, 270),
    ProductTemplate("Tiramisù", "Dessert", "Pâtisserie Lumière", 3.80, 0.38, True, 4, 130),
    ProductTemplate("Obstsalat", "Obst", "Saftladen", 3.50, 0.46, True, 2, 250),
    ProductTemplate("Banane (Bio)", "Obst", "Fruchtwerk", 0.60, 0.40, True, 5, 120),
    ProductTemplate("Apfel Elstar", "Obst", "Fruchtwerk", 0.70, 0.38, True, 14, 160),
    ProductTemplate("Wrap Falafel 🌯", "Sandwich", "GreenBowl", 5.20, 0.41, True, 2, 240),
    ProductTemplate("Bagel Lachs & Frischkäse", "Sandwich", "Frischeküche", 5.90, 0.46, True, 2, 200),
    ProductTemplate("Gazpacho", "Suppe", "Frischeküche", 4.40, 0.39, True, 3, 330),
    ProductTemplate("Linsensuppe", "Suppe", "Frischeküche", 4.20, 0.36, True, 4, 400),
    ProductTemplate("Pad Thai", "Hauptgericht", "Wok & Roll", 8.20, 0.43, True, 3, 380),
    ProductTemplate("Chili sin Carne", "Hauptgericht", "Wok & Roll", 7.40, 0.40, True, 3, 380),
    ProductTemplate("Lasagne al forno", "Hauptgericht", "Trattoria Nonna", 7.90, 0.42, True, 3, 400),
    ProductTemplate("Gnocchi Pesto", "Hauptgericht", "Trattoria Nonna", 7.20, 0.40, True, 3, 350),
    ProductTemplate("Panna Cotta", "Dessert", "Trattoria Nonna", 3.30, 0.35, True, 5, 120),
    ProductTemplate("Eistee Pfirsich", "Getränke", "Quellwerk", 2.10, 0.26, False, 270, 510),
    ProductTemplate("Hafer Cappuccino", "Getränke", "Rösterei Süd", 3.10, 0.34, False, 30, 230),
    ProductTemplate("Protein Shake Vanille", "Getränke", "FitFuel", 3.90, 0.42, False, 120, 330),
    ProductTemplate("Reiswaffeln Zartbitter", "Snack", "FitFuel", 1.70, 0.30, True, 200, 100),
    ProductTemplate("Edamame gesalzen", "Snack", "Wok & Roll", 2.80, 0.38, True, 5, 150),
    ProductTemplate("Sushi Box Maki", "Hauptgericht", "Wok & Roll", 8.90, 0.50, True, 1, 250),
    ProductTemplate("Overnight Oats Schoko", "Frühstück", "Alpenmilch", 3.70, 0.36, True, 4, 250),
    ProductTemplate("Croissant au beurre", "Backwaren", "Pâtisserie Lumière", 1.60, 0.30, True, 1, 70),
    ProductTemplate("Pain au chocolat", "Backwaren", "Pâtisserie Lumière", 1.90, 0.31, True, 1, 80),
    ProductTemplate("Kaugummi Minze", None, "FitFuel", 1.10, 0.25, False, None, 30),
    ProductTemplate("Taschentücher", None, "Hygieia", 0.90, 0.35, False, None, 60),
)

KIOSK_SITES: tuple[str, ...] = (
    "Campus Süd – Mensa",
    "Bürohaus Königsallee",
    "Technopark Zürich 🚀",
    "Shoreditch Works",
    "Klinikum Nord – Foyer",
    "Quartier Plainpalais",
    "Hauptbahnhof Gleis 1",
    "Messe Halle 3",
    "Coworking Kreuzberg ☕",
    "Fitnessstudio Prenzlauer Berg",
    "Universität Zürich – Bibliothek",
    "King's Cross Hub",
    "Rathaus Schöneberg",
    "Flughafen Terminal 2 ✈️",
    "Werksgelände Ost",
    "Hôtel des Bergues",
    "Seestraße Büros",
    "Canary Wharf Tower",
    "Schwabing Studios",
    "Fabrikhalle Nord",
)

STREETS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "DE": ("Friedrichstraße", "Müllerstraße", "Schönhauser Allee", "Leopoldstraße", "Kaiserstraße"),
    "CH": ("Bahnhofstrasse", "Rue de Lausanne", "Seefeldstrasse", "Löwenstrasse", "Quai du Mont-Blanc"),
    "GB": ("Old Street", "Baker Street", "Bishopsgate", "Camden High Street", "Strand"),
}

FIRST_NAMES: tuple[str, ...] = (
    "Jürgen",
    "Zoë",
    "François",
    "Łukasz",
    "Søren",
    "Anaïs",
    "Björn",
    "Chloé",
    "José",
    "Małgorzata",
    "Noémie",
    "Sebastián",
    "Ümit",
    "Jörg",
    "Renée",
    "Siobhán",
    "Ærin",
    "Mia",
    "Lukas",
    "Emma",
    "Noah",
    "Hannah",
    "Ben",
    "Lea",
    "Oliver",
    "Amelia",
    "Luca",
    "Giulia",
    "Tim",
    "Sophie",
)
LAST_NAMES: tuple[str, ...] = (
    "Müller",
    "Schäfer",
    "Dubois",
    "Nowak",
    "Øster",
    "Brünnhilde",
    "García",
    "Lefèvre",
    "Weiß",
    "Große",
    "Kowalczyk",
    "O'Brien",
    "Zürcher",
    "Gössl",
    "Smith",
    "Jones",
    "Fischer",
    "Keller",
    "Meier",
    "Rossi",
)

ALERT_TYPES: tuple[tuple[str, str, str, str], ...] = (
    ("TEMPERATURE_HIGH", "cooling", "high", "A temperature sensor reads above 7 °C."),
    ("DOOR_OPEN_TOO_LONG", "hardware", "mid", "The door stayed open longer than 2 minutes."),
    ("KIOSK_OFFLINE", "connectivity", "high", "The kiosk has not reported for more than 15 minutes."),
    ("LOW_STOCK", "inventory", "low", "A load cell is empty or nearly empty."),
    ("PAYMENT_TERMINAL_ERROR", "payment", "high", "The payment terminal rejected a pre-authorisation."),
    ("SCALE_CALIBRATION", "hardware", "mid", "A load cell reports an implausible weight."),
    ("SERVICE_CHECK_DUE", "maintenance", "low", "The periodic service check is due."),
)
