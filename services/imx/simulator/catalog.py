"""Reference tables the simulator draws from: who migrates, who smuggles, what they drive.

The shares follow DOMAIN.md ("Volumes") and the public figures behind it: Afghan and Syrian
nationals make up most detections on the Western Balkan route, followed by Pakistani,
Moroccan, Iraqi, Bangladeshi, Turkish and Indian nationals. Facilitators are mostly nationals of
the route's states (Serbia and its neighbours) with some from the migrants' own countries. The
names are common ones of each country, so the figures look like real records without being any.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Migrant nationalities and their relative weights.
MIGRANT_NATIONALITIES: Mapping[str, int] = {
    "AFG": 30, "SYR": 22, "PAK": 12, "MAR": 8, "IRQ": 6, "BGD": 6, "TUR": 5, "IND": 4,
    "IRN": 3, "TUN": 2, "EGY": 2,
}  # fmt: skip

#: Facilitator nationalities: mostly the route's states; SRB makes no foreign element.
FACILITATOR_NATIONALITIES: Mapping[str, int] = {
    "SRB": 30, "MKD": 12, "BGR": 8, "BIH": 8, "HRV": 5, "AFG": 10, "SYR": 8, "PAK": 6, "TUR": 6,
    "MAR": 4, "ROU": 3,
}  # fmt: skip

#: Given names (male, female) and family names by nationality.
NAMES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "AFG": (("Ahmad", "Mohammad", "Rahmatullah", "Hamid", "Jawad", "Naqibullah"),
            ("Fatima", "Zahra", "Maryam"), ("Ahmadi", "Karimi", "Hakimi", "Rahimi", "Noori")),
    "SYR": (("Omar", "Khaled", "Mahmoud", "Yousef", "Ammar"), ("Rania", "Lina", "Hiba"),
            ("Haddad", "Al-Hassan", "Khalil", "Darwish", "Al-Ahmad")),
    "PAK": (("Imran", "Bilal", "Usman", "Zeeshan", "Asif"), ("Ayesha", "Sana"),
            ("Khan", "Hussain", "Butt", "Qureshi", "Malik")),
    "MAR": (("Youssef", "Hamza", "Mehdi", "Anas"), ("Salma", "Khadija"),
            ("El Amrani", "Benali", "Tazi", "El Idrissi")),
    "IRQ": (("Ali", "Hussein", "Mustafa", "Karrar"), ("Zainab", "Noor"),
            ("Al-Jabouri", "Al-Obaidi", "Kareem")),
    "BGD": (("Rahim", "Sabbir", "Tanvir", "Arif"), ("Nasrin", "Sumaiya"),
            ("Hossain", "Rahman", "Islam", "Uddin")),
    "TUR": (("Mehmet", "Mustafa", "Emre", "Burak", "Kemal"), ("Elif", "Zeynep"),
            ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik")),  # noqa: RUF001 - Turkish dotless i
    "IND": (("Rahul", "Amit", "Gurpreet", "Harjit"), ("Priya", "Simran"),
            ("Singh", "Sharma", "Kumar", "Gill")),
    "IRN": (("Reza", "Amir", "Hossein"), ("Maryam", "Shirin"), ("Rezaei", "Mohammadi")),
    "TUN": (("Aymen", "Wassim"), ("Amira",), ("Trabelsi", "Ben Salah")),
    "EGY": (("Ahmed", "Mahmoud"), ("Nour",), ("Hassan", "Ibrahim")),
    "SRB": (("Marko", "Nikola", "Dragan", "Milan", "Zoran", "Dejan", "Goran", "Miloš"),
            ("Jelena", "Marija", "Ivana"),
            ("Petrović", "Jovanović", "Nikolić", "Đorđević", "Stojanović", "Ilić", "Marković")),
    "MKD": (("Aleksandar", "Goran", "Bojan", "Dragi"), ("Elena", "Biljana"),
            ("Stojanovski", "Trajkovski", "Nikolovski", "Petrovski")),
    "BGR": (("Georgi", "Dimitar", "Ivan", "Nikolay"), ("Maria", "Desislava"),
            ("Ivanov", "Georgiev", "Dimitrov", "Petrov")),
    "BIH": (("Emir", "Adnan", "Dženan", "Mirza"), ("Amra", "Lejla"),
            ("Hodžić", "Mehmedović", "Delić", "Hadžić")),
    "HRV": (("Ivan", "Josip", "Tomislav"), ("Ana", "Petra"), ("Horvat", "Kovačević", "Babić")),
    "ROU": (("Andrei", "Ionuț"), ("Elena",), ("Popescu", "Ionescu")),
}  # fmt: skip

#: Passport number shapes by issuing country: letters (L) and digits (D).
PASSPORT_SHAPES: Mapping[str, str] = {
    "AFG": "LDDDDDDD", "SYR": "LDDDDDDDD", "PAK": "LLDDDDDDD", "MAR": "LLDDDDDDD",
    "IRQ": "LDDDDDDDD", "BGD": "LLDDDDDDD", "TUR": "LDDDDDDDD", "IND": "LDDDDDDD",
    "IRN": "LDDDDDDDD", "TUN": "LLDDDDDD", "EGY": "LDDDDDDDD", "SRB": "DDDDDDDDD",
    "MKD": "LDDDDDDD", "BGR": "DDDDDDDDD", "BIH": "LDDDDDDD", "HRV": "DDDDDDDDD",
    "ROU": "DDDDDDDD",
}  # fmt: skip

#: Documents forged or misused on the route (EU travel documents and residence permits).
FRAUD_COUNTRIES: Mapping[str, int] = {
    "GRC": 6, "BGR": 5, "ITA": 4, "FRA": 3, "DEU": 3, "AUT": 3, "HUN": 2, "SVN": 2, "ESP": 2,
}  # fmt: skip

#: Vehicle registration by country, with a plate shape: L letter, D digit, literal otherwise.
#: Serbian plates start with a town code and may end in Serbian Latin letters.
PLATE_SHAPES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "SRB": (("BG", "NI", "VR", "PŽ", "NS", "SM", "ŠA", "ZA", "BO"), "DDD-LL"),
    "MKD": (("SK", "KU", "VE", "ST"), "DDDD LL"),
    "BGR": (("CB", "CA", "PB", "BT"), "DDDD LL"),
    "BIH": (("",), "LDD-L-DDD"),
    "HRV": (("ZG", "OS", "VU", "ST"), "DDDD-LL"),
    "AUT": (("W", "G", "L"), "DDDDD L"),
    "DEU": (("M", "B", "S", "F"), "LL DDDD"),
    "TUR": (("34", "06", "22"), "LLL DDD"),
    "ROU": (("B", "TM", "CS"), "DD LLL"),
}  # fmt: skip
VEHICLE_COUNTRIES: Mapping[str, int] = {
    "SRB": 45, "MKD": 12, "BGR": 10, "BIH": 8, "HRV": 5, "AUT": 6, "DEU": 6, "TUR": 5, "ROU": 3,
}  # fmt: skip
SERBIAN_PLATE_LETTERS = "ABCDEFHJKLMNOPRSTUVZŠĐČĆŽ"
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

#: Make, model and the transport kind it serves as.
VEHICLES: tuple[tuple[str, str, str], ...] = (
    ("Volkswagen", "Golf", "CAR"), ("Volkswagen", "Passat", "CAR"), ("Škoda", "Octavia", "CAR"),
    ("Opel", "Astra", "CAR"), ("Audi", "A6", "CAR"), ("Renault", "Megane", "CAR"),
    ("Mercedes-Benz", "Sprinter", "VAN"), ("Ford", "Transit", "VAN"), ("Fiat", "Ducato", "VAN"),
    ("Renault", "Master", "VAN"), ("Iveco", "Daily", "VAN"), ("MAN", "TGX", "TRUCK"),
    ("Scania", "R450", "TRUCK"), ("Volvo", "FH", "TRUCK"), ("Setra", "S 515", "BUS"),
)  # fmt: skip
COLOURS = ("white", "black", "silver", "grey", "dark blue", "red", "green", "beige")

#: International dialling codes of mobile numbers used by facilitators (country → prefix).
PHONE_PREFIXES: Mapping[str, str] = {
    "SRB": "381", "MKD": "389", "BGR": "359", "BIH": "387", "HRV": "385", "AFG": "93",
    "SYR": "963", "PAK": "92", "TUR": "90", "MAR": "212", "ROU": "40", "AUT": "43",
}  # fmt: skip
SERBIAN_MOBILE = ("60", "61", "62", "63", "64", "65", "66", "69")

#: What the units call places near them, by report type.
CROSSING_PLACES = ("green border", "forest path", "railway line", "field track",
                   "riverbank", "vineyards", "border stone area")  # fmt: skip
INLAND_PLACES: Mapping[str, tuple[str, ...]] = {
    "ROAD": ("motorway rest area", "petrol station", "regional road"),
    "TRAIN": ("freight train", "railway station"),
    "BUS": ("intercity bus", "bus station"),
    "SETTLEMENT": ("village centre", "outskirts"),
    "ABANDONED_BUILDING": ("abandoned factory", "derelict farm", "disused warehouse"),
    "OTHER": ("city park", "riverside"),
}
