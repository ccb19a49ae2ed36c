#!/usr/bin/env python3
"""Generate the TripGen sample data (users.sql, locations.sql, ai-test-data.sql) and the Job's
validation script (validate.sql, built from checks.sql) from the tables below.

Why a generator: 500 places and 500 reviews are not written by hand, and a committed script
whose output is committed too lets a reviewer diff data changes. The output must be byte-for-byte
reproducible (fixed seed, fixed salts, no clock), which tests/test_sql_generate.py checks.

    python sql/generate.py            # rewrite the files beside this script
    python sql/generate.py --check    # exit 1 if the committed files differ from a fresh run
    python sql/generate.py --out DIR  # write elsewhere

The numbers are SPEC.md's "Sample data" table; the regional split of destinations follows 000's
breakdown (Seoul's 25 districts, Busan's 16, Jeju's 2 cities, 10 cities abroad, plus well-known
areas inside them up to 100), with real coordinates. Places are spread around their destination
(within about a kilometre) and stay inside the region's bounds that validation checks.

Sample accounts are for the development environment only; their passwords follow the pattern
in `sample_password()` and only bcrypt hashes are written to SQL.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20250730
BCRYPT_COST = 10
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# SPEC.md "Sample data"
COUNTS = {
    "users": 10,
    "locations": 100,
    "places": 500,
    "itineraries": 20,
    "itinerary_templates": 30,
    "user_preferences": 50,
    "reviews": 500,
    "months": 12,
}

# username, role, display name, trips (itineraries owned)
USERS = [
    ("admin", "ADMIN", "TripGen Admin", 5),
    ("testuser1", "USER", "Test User One", 3),
    ("testuser2", "USER", "Test User Two", 2),
    ("poweruser", "POWER_USER", "Power User", 7),
    ("traveler1", "USER", "Kim Minji", 2),
    ("traveler2", "USER", "Lee Junho", 1),
    ("traveler3", "USER", "Park Seoyeon", 0),
    ("guide1", "POWER_USER", "Choi Hyunwoo", 0),
    ("qatester1", "QA_TESTER", "QA Tester One", 0),
    ("qatester2", "QA_TESTER", "QA Tester Two", 0),
]

# Region bounds (lat_min, lat_max, lon_min, lon_max) shared with sql/checks.sql.
BOUNDS = {
    "SEOUL": (37.41, 37.72, 126.76, 127.19),
    "BUSAN": (34.85, 35.40, 128.75, 129.32),
    "JEJU": (33.10, 33.60, 126.10, 127.00),
}
ABROAD_RADIUS_DEG = 0.3  # places abroad lie within this of their destination

# code, name, local name, latitude, longitude  (district offices / city centres)
SEOUL_DISTRICTS = [
    ("jongno", "Jongno-gu", "종로구", 37.5735, 126.9790), ("jung-seoul", "Jung-gu", "중구", 37.5641, 126.9979),
    ("yongsan", "Yongsan-gu", "용산구", 37.5326, 126.9905), ("seongdong", "Seongdong-gu", "성동구", 37.5633, 127.0371),
    ("gwangjin", "Gwangjin-gu", "광진구", 37.5385, 127.0823), ("dongdaemun", "Dongdaemun-gu", "동대문구", 37.5744, 127.0400),
    ("jungnang", "Jungnang-gu", "중랑구", 37.6063, 127.0926), ("seongbuk", "Seongbuk-gu", "성북구", 37.5894, 127.0167),
    ("gangbuk", "Gangbuk-gu", "강북구", 37.6396, 127.0257), ("dobong", "Dobong-gu", "도봉구", 37.6688, 127.0471),
    ("nowon", "Nowon-gu", "노원구", 37.6542, 127.0568), ("eunpyeong", "Eunpyeong-gu", "은평구", 37.6027, 126.9291),
    ("seodaemun", "Seodaemun-gu", "서대문구", 37.5791, 126.9368), ("mapo", "Mapo-gu", "마포구", 37.5663, 126.9019),
    ("yangcheon", "Yangcheon-gu", "양천구", 37.5170, 126.8665), ("gangseo-seoul", "Gangseo-gu", "강서구", 37.5509, 126.8495),
    ("guro", "Guro-gu", "구로구", 37.4954, 126.8874), ("geumcheon", "Geumcheon-gu", "금천구", 37.4519, 126.9020),
    ("yeongdeungpo", "Yeongdeungpo-gu", "영등포구", 37.5264, 126.8962), ("dongjak", "Dongjak-gu", "동작구", 37.5124, 126.9393),
    ("gwanak", "Gwanak-gu", "관악구", 37.4784, 126.9516), ("seocho", "Seocho-gu", "서초구", 37.4837, 127.0324),
    ("gangnam", "Gangnam-gu", "강남구", 37.5172, 127.0473), ("songpa", "Songpa-gu", "송파구", 37.5145, 127.1059),
    ("gangdong", "Gangdong-gu", "강동구", 37.5301, 127.1238),
]
BUSAN_DISTRICTS = [
    ("jung-busan", "Jung-gu", "중구", 35.1063, 129.0323), ("seo-busan", "Seo-gu", "서구", 35.0979, 129.0244),
    ("dong-busan", "Dong-gu", "동구", 35.1293, 129.0454), ("yeongdo", "Yeongdo-gu", "영도구", 35.0911, 129.0679),
    ("busanjin", "Busanjin-gu", "부산진구", 35.1630, 129.0532), ("dongnae", "Dongnae-gu", "동래구", 35.2048, 129.0837),
    ("nam-busan", "Nam-gu", "남구", 35.1366, 129.0843), ("buk-busan", "Buk-gu", "북구", 35.1972, 128.9903),
    ("haeundae", "Haeundae-gu", "해운대구", 35.1631, 129.1635), ("saha", "Saha-gu", "사하구", 35.1046, 128.9749),
    ("geumjeong", "Geumjeong-gu", "금정구", 35.2430, 129.0922), ("gangseo-busan", "Gangseo-gu", "강서구", 35.2122, 128.9806),
    ("yeonje", "Yeonje-gu", "연제구", 35.1762, 129.0797), ("suyeong", "Suyeong-gu", "수영구", 35.1455, 129.1132),
    ("sasang", "Sasang-gu", "사상구", 35.1526, 128.9910), ("gijang", "Gijang-gun", "기장군", 35.2445, 129.2222),
]
JEJU_CITIES = [
    ("jeju-si", "Jeju-si", "제주시", 33.4996, 126.5312), ("seogwipo", "Seogwipo-si", "서귀포시", 33.2541, 126.5601),
]
# code, name, local name, country, latitude, longitude
ABROAD_CITIES = [
    ("tokyo", "Tokyo", "東京", "JP", 35.6762, 139.6503), ("osaka", "Osaka", "大阪", "JP", 34.6937, 135.5023),
    ("fukuoka", "Fukuoka", "福岡", "JP", 33.5904, 130.4017), ("taipei", "Taipei", "臺北", "TW", 25.0330, 121.5654),
    ("bangkok", "Bangkok", "กรุงเทพมหานคร", "TH", 13.7563, 100.5018), ("singapore", "Singapore", "Singapore", "SG", 1.3521, 103.8198),
    ("hong-kong", "Hong Kong", "香港", "HK", 22.3193, 114.1694), ("da-nang", "Da Nang", "Đà Nẵng", "VN", 16.0544, 108.2022),
    ("paris", "Paris", "Paris", "FR", 48.8566, 2.3522), ("new-york", "New York", "New York", "US", 40.7128, -74.0060),
]
# code, name, local name, parent code, latitude, longitude  (well-known areas)
AREAS = {
    "SEOUL": [
        ("myeongdong", "Myeongdong", "명동", "jung-seoul", 37.5636, 126.9826), ("insadong", "Insadong", "인사동", "jongno", 37.5740, 126.9849),
        ("bukchon", "Bukchon Hanok Village", "북촌한옥마을", "jongno", 37.5826, 126.9830), ("gyeongbokgung", "Gyeongbokgung", "경복궁", "jongno", 37.5796, 126.9770),
        ("hongdae", "Hongdae", "홍대", "mapo", 37.5563, 126.9236), ("itaewon", "Itaewon", "이태원", "yongsan", 37.5345, 126.9946),
        ("gangnam-station", "Gangnam Station", "강남역", "gangnam", 37.4979, 127.0276), ("coex", "COEX", "코엑스", "gangnam", 37.5126, 127.0590),
        ("jamsil", "Jamsil Lotte World", "잠실 롯데월드", "songpa", 37.5111, 127.0982), ("yeouido", "Yeouido", "여의도", "yeongdeungpo", 37.5219, 126.9245),
        ("namsan", "N Seoul Tower", "남산서울타워", "yongsan", 37.5512, 126.9882), ("ddp", "Dongdaemun Design Plaza", "동대문디자인플라자", "jung-seoul", 37.5665, 127.0092),
    ],
    "BUSAN": [
        ("haeundae-beach", "Haeundae Beach", "해운대해수욕장", "haeundae", 35.1587, 129.1604), ("gwangalli", "Gwangalli Beach", "광안리해수욕장", "suyeong", 35.1532, 129.1186),
        ("gamcheon", "Gamcheon Culture Village", "감천문화마을", "saha", 35.0975, 129.0106), ("jagalchi", "Jagalchi Market", "자갈치시장", "jung-busan", 35.0966, 129.0306),
        ("taejongdae", "Taejongdae", "태종대", "yeongdo", 35.0532, 129.0871), ("yonggungsa", "Haedong Yonggungsa", "해동용궁사", "gijang", 35.1884, 129.2233),
        ("seomyeon", "Seomyeon", "서면", "busanjin", 35.1577, 129.0592), ("beomeosa", "Beomeosa Temple", "범어사", "geumjeong", 35.2838, 129.0686),
    ],
    "JEJU": [
        ("hallasan", "Hallasan", "한라산", "jeju-si", 33.3617, 126.5292), ("seongsan", "Seongsan Ilchulbong", "성산일출봉", "seogwipo", 33.4581, 126.9425),
        ("udo", "Udo Island", "우도", "jeju-si", 33.5064, 126.9543), ("manjanggul", "Manjanggul Cave", "만장굴", "jeju-si", 33.5284, 126.7714),
        ("hyeopjae", "Hyeopjae Beach", "협재해수욕장", "jeju-si", 33.3940, 126.2396), ("jungmun", "Jungmun Resort", "중문관광단지", "seogwipo", 33.2474, 126.4122),
        ("cheonjiyeon", "Cheonjiyeon Falls", "천지연폭포", "seogwipo", 33.2447, 126.5543), ("jeongbang", "Jeongbang Falls", "정방폭포", "seogwipo", 33.2449, 126.5719),
        ("hamdeok", "Hamdeok Beach", "함덕해수욕장", "jeju-si", 33.5430, 126.6697), ("sanbangsan", "Sanbangsan", "산방산", "seogwipo", 33.2370, 126.3120),
        ("dongmun-market", "Dongmun Market", "동문시장", "jeju-si", 33.5122, 126.5284), ("seopjikoji", "Seopjikoji", "섭지코지", "seogwipo", 33.4240, 126.9310),
    ],
    "ABROAD": [
        ("shibuya", "Shibuya", "渋谷", "tokyo", 35.6580, 139.7016), ("asakusa", "Asakusa", "浅草", "tokyo", 35.7148, 139.7967),
        ("dotonbori", "Dotonbori", "道頓堀", "osaka", 34.6687, 135.5013), ("osaka-castle", "Osaka Castle", "大阪城", "osaka", 34.6873, 135.5262),
        ("tenjin", "Tenjin", "天神", "fukuoka", 33.5913, 130.3989), ("hakata", "Hakata", "博多", "fukuoka", 33.5897, 130.4207),
        ("taipei-101", "Taipei 101", "台北101", "taipei", 25.0340, 121.5645), ("ximending", "Ximending", "西門町", "taipei", 25.0421, 121.5081),
        ("grand-palace", "Grand Palace", "พระบรมมหาราชวัง", "bangkok", 13.7500, 100.4913), ("marina-bay", "Marina Bay", "Marina Bay", "singapore", 1.2834, 103.8607),
        ("victoria-peak", "Victoria Peak", "太平山", "hong-kong", 22.2759, 114.1455), ("my-khe", "My Khe Beach", "Bãi biển Mỹ Khê", "da-nang", 16.0614, 108.2470),
        ("eiffel-tower", "Eiffel Tower", "Tour Eiffel", "paris", 48.8584, 2.2945), ("louvre", "Louvre", "Musée du Louvre", "paris", 48.8606, 2.3376),
        ("times-square", "Times Square", "Times Square", "new-york", 40.7580, -73.9855),
    ],
}

# places per region (000's 150/80/100/200 attractions scaled to the SPEC's 500) and their categories
PLACES_PER_REGION = {"SEOUL": 140, "BUSAN": 75, "JEJU": 95, "ABROAD": 190}
REGION_CATEGORIES = {
    "SEOUL": ["CULTURE", "SHOPPING", "FOOD"],
    "BUSAN": ["OCEAN", "CULTURE", "FOOD"],
    "JEJU": ["NATURE", "LEISURE", "CULTURE"],
    "ABROAD": ["CULTURE", "FOOD", "SHOPPING", "NATURE"],
}
CATEGORY_NOUNS = {
    "CULTURE": ["Museum", "Gallery", "Heritage House", "Temple", "Theater", "Craft Workshop"],
    "SHOPPING": ["Arcade", "Market", "Shopping Street", "Department Store", "Boutique Alley"],
    "FOOD": ["Kitchen", "Noodle House", "Barbecue", "Bakery", "Food Alley", "Tea House"],
    "OCEAN": ["Beach Walk", "Pier", "Harbor View", "Coastal Trail", "Fish Market", "Skywalk"],
    "NATURE": ["Forest Trail", "Oreum", "Waterfall Path", "Botanical Garden", "Lookout", "Park"],
    "LEISURE": ["Surf School", "Horse Ranch", "Kayak Club", "Cycling Route", "Spa", "Theme Park"],
}

THEMES = ["CULTURE", "FOOD", "NATURE", "SHOPPING", "OCEAN", "FAMILY", "HEALING"]
TRAVEL_STYLES = ["RELAXED", "ADVENTURE", "CULTURAL", "FOODIE", "SHOPPING", "NATURE"]
BUDGETS = ["LOW", "MEDIUM", "HIGH", "LUXURY"]
PACES = ["SLOW", "MODERATE", "FAST"]
COMPANIONS = ["SOLO", "COUPLE", "FAMILY", "FRIENDS", "BUSINESS"]
REVIEW_TEXT = {
    1: ["Disappointing, would not go again.", "Crowded and overpriced.", "Closed when we arrived."],
    2: ["Below expectations.", "Okay view, poor service.", "Not worth the detour."],
    3: ["Decent stop for an hour.", "Average, fine if nearby.", "Good but busy at weekends."],
    4: ["Very enjoyable, recommended.", "Great atmosphere and easy to reach.", "Lovely place, will return."],
    5: ["Highlight of the trip!", "Absolutely worth it.", "Perfect in every way."],
}
# month -> (season, avg temp Seoul, Busan, Jeju, precipitation mm Seoul) roughly the climate normals
CLIMATE = {
    1: ("WINTER", -2.4, 3.2, 6.1, 17), 2: ("WINTER", 0.4, 5.0, 7.2, 25), 3: ("SPRING", 5.7, 9.1, 10.1, 47),
    4: ("SPRING", 12.5, 14.1, 14.6, 65), 5: ("SPRING", 17.8, 18.2, 18.6, 106), 6: ("SUMMER", 22.2, 21.2, 22.1, 130),
    7: ("SUMMER", 24.9, 24.7, 26.2, 415), 8: ("SUMMER", 25.7, 26.3, 27.2, 348), 9: ("AUTUMN", 21.2, 22.6, 23.6, 141),
    10: ("AUTUMN", 14.8, 17.8, 18.7, 52), 11: ("AUTUMN", 7.2, 11.6, 13.3, 53), 12: ("WINTER", 0.4, 5.4, 8.3, 22),
}
ABROAD_TEMP_OFFSET = 6.0


def sample_password(username: str) -> str:
    """Development-only sample password (documented for QA); never written to SQL."""
    return f"TripGen-{username}-dev!"


def bcrypt_hash(username: str) -> str:
    """A bcrypt hash with a salt derived from the username, so regenerating is reproducible."""
    import bcrypt

    digest = hashlib.sha256(f"tripgen-salt:{username}".encode()).digest()
    chars = "".join(BCRYPT_ALPHABET[b % 64] for b in digest[:21]) + ".Oeu"[digest[21] % 4]
    salt = f"$2b${BCRYPT_COST:02d}${chars}".encode()
    return bcrypt.hashpw(sample_password(username).encode(), salt).decode()


def lit(value) -> str:
    """A SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(lit(v) for v in value) + "]::text[]" if value else "'{}'::text[]"
    if isinstance(value, (date, datetime)):
        return "'" + value.isoformat(sep=" ") + "'" if isinstance(value, datetime) else "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def insert(table: str, columns: list[str], rows: list[tuple], chunk: int = 100) -> str:
    out = []
    for i in range(0, len(rows), chunk):
        values = ",\n".join("  (" + ", ".join(lit(v) for v in row) + ")" for row in rows[i : i + chunk])
        out.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n{values};\n")
    next_id = max(row[0] for row in rows) + 1  # explicit ids above: move the identity past them
    out.append(f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH {next_id};\n")
    return "\n".join(out)


HEADER = "-- GENERATED by sql/generate.py from its tables; do not edit, run `python sql/generate.py`.\n-- {what}\n-- Loaded by the sample-data-load Job in ONE transaction with the other sample files.\n\n"


# ---- the data ---------------------------------------------------------------------------------

def build_users() -> list[tuple]:
    base = datetime(2025, 7, 1, 9, 0, 0)
    rows = []
    for i, (username, role, display, _trips) in enumerate(USERS, start=1):
        rows.append((i, username, f"{username}@tripgen.dev", bcrypt_hash(username), role, display, "ko-KR", base + timedelta(hours=i)))
    return rows


def build_locations() -> list[dict]:
    locs: list[dict] = []

    def add(code, name, local, region, kind, country, lat, lon, parent=None):
        locs.append(dict(id=len(locs) + 1, code=code, name=name, name_local=local, region=region, location_type=kind,
                         country_code=country, parent=parent, latitude=lat, longitude=lon))

    for code, name, local, lat, lon in SEOUL_DISTRICTS:
        add(code, name, local, "SEOUL", "DISTRICT", "KR", lat, lon)
    for code, name, local, lat, lon in BUSAN_DISTRICTS:
        add(code, name, local, "BUSAN", "DISTRICT", "KR", lat, lon)
    for code, name, local, lat, lon in JEJU_CITIES:
        add(code, name, local, "JEJU", "CITY", "KR", lat, lon)
    for code, name, local, country, lat, lon in ABROAD_CITIES:
        add(code, name, local, "ABROAD", "CITY", country, lat, lon)
    by_code = {l["code"]: l for l in locs}
    for region, areas in AREAS.items():
        for code, name, local, parent, lat, lon in areas:
            p = by_code[parent]
            add(code, name, local, region, "AREA", p["country_code"], lat, lon, parent=p["id"])
    for l in locs:
        l["parent_id"] = l.pop("parent")
        l["description"] = f"{l['name']} ({l['name_local']}), {l['region'].title()} {l['location_type'].lower()}"
    return locs


def in_bounds(region: str, lat: float, lon: float, centre: tuple[float, float]) -> bool:
    if region in BOUNDS:
        a, b, c, d = BOUNDS[region]
        return a <= lat <= b and c <= lon <= d
    return abs(lat - centre[0]) <= ABROAD_RADIUS_DEG and abs(lon - centre[1]) <= ABROAD_RADIUS_DEG


def build_places(rng: random.Random, locs: list[dict]) -> list[dict]:
    places: list[dict] = []
    for region, total in PLACES_PER_REGION.items():
        region_locs = [l for l in locs if l["region"] == region]
        cats = REGION_CATEGORIES[region]
        for n in range(total):
            loc = region_locs[n % len(region_locs)]
            cat = cats[n % len(cats)]
            noun = CATEGORY_NOUNS[cat][(n // len(cats)) % len(CATEGORY_NOUNS[cat])]
            while True:
                lat = round(loc["latitude"] + rng.uniform(-0.009, 0.009), 6)
                lon = round(loc["longitude"] + rng.uniform(-0.011, 0.011), 6)
                if in_bounds(region, lat, lon, (loc["latitude"], loc["longitude"])):
                    break
            places.append(dict(
                id=len(places) + 1, location_id=loc["id"], region=region,
                name=f"{loc['name']} {noun} {n // len(region_locs) + 1}", category=cat, latitude=lat, longitude=lon,
                price_level=rng.randint(0, 4), avg_stay_minutes=rng.choice([30, 45, 60, 90, 120, 180]),
            ))
    return places


def build_templates(rng: random.Random, locs: list[dict]) -> list[dict]:
    regions = ["SEOUL", "BUSAN", "JEJU", "ABROAD"]
    out = []
    for i in range(COUNTS["itinerary_templates"]):
        region = regions[i % 4]
        days = (i % 7) + 1
        theme = THEMES[(i * 3) % len(THEMES)]
        candidates = [l for l in locs if l["region"] == region and l["location_type"] != "AREA"]
        loc = candidates[rng.randrange(len(candidates))]
        out.append(dict(id=i + 1, code=f"tpl-{i + 1:02d}", title=f"{days}-day {theme.lower()} trip in {loc['name']}",
                        region=region, location_id=loc["id"], theme=theme, duration_days=days,
                        description=f"A {days}-day {theme.lower()} itinerary template around {loc['name']}."))
    return out


def build_itineraries(rng: random.Random, locs: list[dict], places: list[dict], templates: list[dict]):
    itineraries, days, items = [], [], []
    owners = [(i + 1, name) for i, (name, _r, _d, trips) in enumerate(USERS) for _ in range(trips)]
    assert len(owners) == COUNTS["itineraries"], "trip counts must add up to the SPEC's 20 itineraries"
    statuses = ["PLANNED", "ONGOING", "COMPLETED", "COMPLETED", "CANCELLED"]
    by_location: dict[int, list[dict]] = {}
    for p in places:
        by_location.setdefault(p["location_id"], []).append(p)
    for n, (user_id, username) in enumerate(owners):
        tpl = templates[(n * 7) % len(templates)] if n % 3 != 2 else None
        duration = tpl["duration_days"] if tpl else (n % 7) + 1
        loc = next(l for l in locs if l["id"] == tpl["location_id"]) if tpl else locs[(n * 13) % len(locs)]
        start = date(2025, 8, 1) + timedelta(days=n * 9)
        iid = n + 1
        itineraries.append(dict(id=iid, user_id=user_id, template_id=tpl["id"] if tpl else None, location_id=loc["id"],
                                title=f"{username}'s trip to {loc['name']}", start_date=start,
                                end_date=start + timedelta(days=duration - 1), duration_days=duration,
                                status=statuses[n % len(statuses)]))
        pool = by_location.get(loc["id"]) or [p for p in places if p["region"] == loc["region"]]
        region_pool = [p for p in places if p["region"] == loc["region"]]
        for d in range(1, duration + 1):
            day_id = len(days) + 1
            days.append(dict(id=day_id, itinerary_id=iid, day_number=d, day_date=start + timedelta(days=d - 1),
                             title=f"Day {d} in {loc['name']}"))
            chosen = rng.sample(pool, min(len(pool), 2)) + rng.sample(region_pool, 2)
            seen = set()
            seq = 0
            for p in chosen:
                if p["id"] in seen:
                    continue
                seen.add(p["id"])
                seq += 1
                items.append(dict(id=len(items) + 1, itinerary_day_id=day_id, seq=seq, place_id=p["id"],
                                  start_time=f"{8 + seq * 2:02d}:00"))
    return itineraries, days, items


def build_template_days(templates: list[dict]) -> list[dict]:
    out = []
    parts = ["Arrival and old town", "Markets and food", "Museums and history", "Nature day", "Coast and views", "Local neighbourhoods", "Free day and departure"]
    for t in templates:
        for d in range(1, t["duration_days"] + 1):
            out.append(dict(id=len(out) + 1, template_id=t["id"], day_number=d, title=parts[(d - 1 + t["id"]) % len(parts)]))
    return out


def build_preferences(rng: random.Random) -> list[dict]:
    regions = ["SEOUL", "BUSAN", "JEJU", "ABROAD"]
    cats = sorted(CATEGORY_NOUNS)
    out = []
    for i in range(COUNTS["user_preferences"]):
        user_id = i + 1 if i < len(USERS) else None
        style = TRAVEL_STYLES[i % len(TRAVEL_STYLES)]
        out.append(dict(
            id=i + 1, user_id=user_id,
            profile_name=(f"{USERS[i][0]} preferences" if user_id else f"AI test persona {i - len(USERS) + 1:02d} ({style.lower()})"),
            travel_style=style, budget_level=BUDGETS[(i // 2) % len(BUDGETS)], pace=PACES[i % len(PACES)],
            companions=COMPANIONS[(i * 3) % len(COMPANIONS)],
            preferred_categories=sorted(rng.sample(cats, 2 + i % 3)),
            preferred_regions=sorted(rng.sample(regions, 1 + i % 3)),
            max_daily_places=3 + i % 4,
        ))
    return out


def build_reviews(rng: random.Random, places: list[dict]) -> list[dict]:
    weights = [(1, 5), (2, 10), (3, 20), (4, 35), (5, 30)]
    pairs = set()
    out = []
    place_ids = [p["id"] for p in places]
    n = 0
    while len(out) < COUNTS["reviews"]:
        user_id = (n % len(USERS)) + 1
        n += 1
        place_id = rng.choice(place_ids)
        if (user_id, place_id) in pairs:
            continue
        pairs.add((user_id, place_id))
        rating = rng.choices([w[0] for w in weights], [w[1] for w in weights])[0]
        visited = date(2025, 1, 1) + timedelta(days=rng.randrange(200))
        out.append(dict(id=len(out) + 1, user_id=user_id, place_id=place_id, rating=rating,
                        content=rng.choice(REVIEW_TEXT[rating]), visited_on=visited,
                        created_at=datetime.combine(visited + timedelta(days=rng.randrange(1, 10)), datetime.min.time()) + timedelta(hours=rng.randrange(8, 23))))
    return out


def build_seasonal() -> list[dict]:
    out = []
    recommended = {
        "WINTER": ["CULTURE", "SHOPPING", "FOOD"], "SPRING": ["NATURE", "CULTURE", "LEISURE"],
        "SUMMER": ["OCEAN", "LEISURE", "NATURE"], "AUTUMN": ["NATURE", "CULTURE", "FOOD"],
    }
    peak = {"SEOUL": {4, 5, 10}, "BUSAN": {7, 8}, "JEJU": {4, 5, 7, 8, 10}, "ABROAD": {1, 2, 7, 8, 12}}
    for region, col in (("SEOUL", 1), ("BUSAN", 2), ("JEJU", 3), ("ABROAD", 1)):
        for month in range(1, 13):
            season, *temps, rain = CLIMATE[month]
            temp = temps[col - 1] + (ABROAD_TEMP_OFFSET if region == "ABROAD" else 0.0)
            popularity = 85 + month % 3 * 5 if month in peak[region] else 40 + (month * 7) % 30
            out.append(dict(id=len(out) + 1, region=region, month=month, season=season, avg_temp_c=round(temp, 1),
                            precipitation_mm=rain, popularity_index=popularity,
                            recommended_categories=[c for c in recommended[season] if c in REGION_CATEGORIES[region]] or recommended[season][:1]))
    return out


def rows(records: list[dict], columns: list[str]) -> list[tuple]:
    return [tuple(r[c] for c in columns) for r in records]


def generate() -> dict[str, str]:
    """file name -> content, for every generated file."""
    rng = random.Random(SEED)
    users = build_users()
    locs = build_locations()
    places = build_places(rng, locs)
    templates = build_templates(rng, locs)
    template_days = build_template_days(templates)
    itineraries, days, items = build_itineraries(rng, locs, places, templates)
    prefs = build_preferences(rng)
    reviews = build_reviews(rng, places)
    seasonal = build_seasonal()
    assert len(users) == COUNTS["users"] and len(locs) == COUNTS["locations"] and len(places) == COUNTS["places"]
    assert len(templates) == COUNTS["itinerary_templates"] and len(prefs) == COUNTS["user_preferences"] and len(reviews) == COUNTS["reviews"]

    users_sql = HEADER.format(what=f"{len(users)} users (bcrypt password hashes only)") + insert(
        "users", ["id", "username", "email", "password_hash", "role", "display_name", "locale", "created_at"], users)

    loc_cols = ["id", "code", "name", "name_local", "region", "location_type", "country_code", "parent_id", "latitude", "longitude", "description"]
    place_cols = ["id", "location_id", "name", "category", "latitude", "longitude", "price_level", "avg_stay_minutes"]
    summary = ", ".join(f"{r} {sum(1 for l in locs if l['region'] == r)}" for r in PLACES_PER_REGION)
    locations_sql = HEADER.format(what=f"{len(locs)} destinations ({summary}) and {len(places)} places by category") + (
        insert("locations", loc_cols, rows(locs, loc_cols)) + "\n" + insert("places", place_cols, rows(places, place_cols)))

    ai = HEADER.format(what="itinerary templates, sample itineraries with their days, preference profiles, reviews, seasonal patterns")
    ai += insert("itinerary_templates", ["id", "code", "title", "region", "location_id", "theme", "duration_days", "description"],
                 rows(templates, ["id", "code", "title", "region", "location_id", "theme", "duration_days", "description"])) + "\n"
    ai += insert("template_days", ["id", "template_id", "day_number", "title"], rows(template_days, ["id", "template_id", "day_number", "title"])) + "\n"
    it_cols = ["id", "user_id", "template_id", "location_id", "title", "start_date", "end_date", "duration_days", "status"]
    ai += insert("itineraries", it_cols, rows(itineraries, it_cols)) + "\n"
    ai += insert("itinerary_days", ["id", "itinerary_id", "day_number", "day_date", "title"], rows(days, ["id", "itinerary_id", "day_number", "day_date", "title"])) + "\n"
    ai += insert("itinerary_items", ["id", "itinerary_day_id", "seq", "place_id", "start_time"], rows(items, ["id", "itinerary_day_id", "seq", "place_id", "start_time"])) + "\n"
    pref_cols = ["id", "user_id", "profile_name", "travel_style", "budget_level", "pace", "companions", "preferred_categories", "preferred_regions", "max_daily_places"]
    ai += insert("user_preferences", pref_cols, rows(prefs, pref_cols)) + "\n"
    rev_cols = ["id", "user_id", "place_id", "rating", "content", "visited_on", "created_at"]
    ai += insert("reviews", rev_cols, rows(reviews, rev_cols)) + "\n"
    sea_cols = ["id", "region", "month", "season", "avg_temp_c", "precipitation_mm", "popularity_index", "recommended_categories"]
    ai += insert("seasonal_patterns", sea_cols, rows(seasonal, sea_cols))

    return {
        "users.sql": users_sql,
        "locations.sql": locations_sql,
        "ai-test-data.sql": ai,
        "validate.sql": validation_script((HERE / "checks.sql").read_text()),
    }


# ---- the validation Job's script, from checks.sql ------------------------------------------------

def validation_script(checks_text: str) -> str:
    out = [
        "-- GENERATED by sql/generate.py from sql/checks.sql; do not edit.",
        "-- Run by the data-validation Job: prints every check and fails (non-zero exit) if any differs.",
        "\\set ON_ERROR_STOP 1",
        "SELECT 'connected to ' || current_database() || ' as ' || current_user || ', ' || split_part(version(), ' on ', 1) AS connection;",
        "CREATE TEMP TABLE validation_results (n serial, grp text, check_name text, expected text, found text);",
    ]
    sys.path.insert(0, str(HERE.parent))  # the parser lives with the checks' other user
    from tripgenctl.ops.validation import parse_checks

    for check in parse_checks(checks_text):
        name, query = check.group, check.query
        # the first three columns: the Job checks a sample just loaded, so sample blocks too
        # want found = expected exactly (as `data validate --expect-sample`)
        out.append(f"\n-- {name}\nINSERT INTO validation_results (grp, check_name, expected, found)\nSELECT {lit(name)}, q.c, q.e, q.f FROM (\n{query}\n) AS q(c, e, f);")
    out.append(
        "\nSELECT check_name AS \"check\", expected, found, CASE WHEN expected = found THEN 'pass' ELSE 'FAIL' END AS result\n"
        "FROM validation_results ORDER BY n;\n"
        "DO $$\nDECLARE bad text;\nBEGIN\n"
        "  SELECT string_agg(r.check_name || ': expected ' || r.expected || ', found ' || coalesce(r.found, 'NULL'), '; ' ORDER BY r.n)\n"
        "    INTO bad FROM validation_results r WHERE r.expected IS DISTINCT FROM r.found;\n"
        "  IF bad IS NOT NULL THEN\n    RAISE EXCEPTION 'validation failed: %', bad;\n  END IF;\n"
        "  RAISE NOTICE 'validation passed: % checks', (SELECT count(*) FROM validation_results);\nEND $$;\n"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files in --out differ from a fresh generation")
    args = parser.parse_args(argv)
    files = generate()
    differ = []
    for name, content in files.items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != content:
                differ.append(name)
        else:
            path.write_text(content)
    if differ:
        print(f"out of date: {', '.join(differ)} (run python sql/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
