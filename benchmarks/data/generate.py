"""Generate the benchmark suites' data: small, synthetic, deterministic, offline.

    python benchmarks/data/generate.py          # rewrites benchmarks/data/<task>/...

Every task gets three files (plus the SQLite database for text-to-SQL):

- ``pretrain.jsonl`` (``{"text"}`` rows): the generic corpus the task's tiny base models are trained on
  from scratch. It is *domain* text (dialogues and notes, questions and queries,
  sentences in both languages, scene descriptions) with only a small share of
  examples in the exact task template, so a base model knows the words but is
  mediocre at the task -- the situation LoRA fine-tuning is for.
- ``train.jsonl``: ``{"prompt", "completion"}`` records for LoRA fine-tuning.
- ``test.jsonl``: held-out records (disjoint from train) the variants are scored on.

The vision tasks (``caption``, ``vqa``) store every row, pretraining included, as a
record with a ``"scene"`` code that `render_scene` turns into the image, and write a
``test-images.png`` to look at; their captioning test records also hold ``"references"``.

Seeds are fixed; re-running writes byte-identical files (the test suite checks it).
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"pretrain": 3000, "train": 320, "test": 96}
TEMPLATE_SHARE = 0.02  # share of pretraining docs in the exact task template

# --- dialogue summarization ---------------------------------------------------------

NAMES = ["ann", "tom", "eva", "max", "lia", "ben", "zoe", "sam", "ida", "leo", "mia", "jon", "ada", "kai", "una", "ray"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
PLACES = ["the cafe", "the park", "the library", "the gym", "the station", "the office", "the market"]
TIMES = ["nine", "ten", "noon", "two", "four", "six", "eight"]
ITEMS = ["book", "bike", "camera", "laptop", "umbrella", "ladder", "guitar"]
ACTS = ["lunch", "coffee", "a walk", "a run", "dinner", "a meeting"]


def _dialogue(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(NAMES, 2)
    day, place, time, item, act = (
        rng.choice(DAYS),
        rng.choice(PLACES),
        rng.choice(TIMES),
        rng.choice(ITEMS),
        rng.choice(ACTS),
    )
    day2 = rng.choice([d for d in DAYS if d != day])
    kind = rng.randrange(4)
    if kind == 0:
        turns = [
            f"{a}: hi {b} , want to have {act} on {day} ?",
            f"{b}: sure , where ?",
            f"{a}: {place} at {time} .",
            f"{b}: ok , see you then .",
        ]
        summary = f"{a} and {b} will have {act} at {place} on {day} at {time} ."
    elif kind == 1:
        turns = [
            f"{a}: {b} , can i borrow your {item} ?",
            f"{b}: yes , when do you need it ?",
            f"{a}: on {day} .",
            f"{b}: fine , pick it up at {place} .",
        ]
        summary = f"{b} will lend {a} the {item} on {day} at {place} ."
    elif kind == 2:
        turns = [
            f"{a}: sorry {b} , i can not make it on {day} .",
            f"{b}: no problem , what about {day2} ?",
            f"{a}: {day2} works , at {time} .",
            f"{b}: great .",
        ]
        summary = f"{a} and {b} moved their plan from {day} to {day2} at {time} ."
    else:
        turns = [
            f"{a}: did you see my {item} ?",
            f"{b}: i think you left it at {place} .",
            f"{a}: thanks , i will go there on {day} .",
        ]
        summary = f"{a} left the {item} at {place} and will get it on {day} ."
    return " ".join(turns), summary


def _held_out_splits(
    draw, key, record, n_test: int = SIZES["test"], *, repeat_train: bool = False
) -> tuple[list, list, set]:
    """Test examples first (no key twice), then training examples whose key is not a
    test key; with repeat_train=False no key appears twice in train either.
    `record(item)` runs only for a kept item. Also returns the keys seen, so
    pretraining text can avoid them (with repeat_train, the test keys only)."""
    train, test, seen = [], [], set()
    for split, size, remember in ((test, n_test, True), (train, SIZES["train"], not repeat_train)):
        while len(split) < size:
            item = draw()
            if key(item) not in seen:
                if remember:
                    seen.add(key(item))
                split.append(record(item))
    return train, test, seen


def _distinct_splits(rng, make_pair, prompt) -> tuple[list, list, set]:
    """Held-out splits of (source, target) pairs, no source text in both (or twice)."""
    return _held_out_splits(
        lambda: make_pair(rng),
        lambda pair: pair[0],
        lambda pair: {"prompt": prompt(pair[0]), "completion": " " + pair[1]},
    )


def summarize_prompt(dialogue: str) -> str:
    return f"dialogue: {dialogue}\nsummary:"


def summarization(seed: int = 11) -> dict:
    rng = random.Random(seed)
    train, test, _ = _distinct_splits(rng, _dialogue, summarize_prompt)
    pretrain = []
    for _ in range(SIZES["pretrain"]):
        d, s = _dialogue(rng)
        r = rng.random()
        if r < TEMPLATE_SHARE:
            pretrain.append(f"{summarize_prompt(d)} {s}")
        elif r < 0.6:
            pretrain.append(d)  # chat logs on their own
        else:
            pretrain.append(f"note : {s}")  # diary notes on their own, unpaired
    return {"pretrain": pretrain, "train": train, "test": test}


# --- text-to-SQL ---------------------------------------------------------------------

CITIES = ["paris", "oslo", "rome", "lima", "cairo", "delhi", "tokyo", "quito", "sofia", "dakar"]
CATEGORIES = ["toys", "books", "tools", "food", "games"]
PRODUCTS = [
    "kite",
    "puzzle",
    "novel",
    "atlas",
    "hammer",
    "drill",
    "apple",
    "bread",
    "chess",
    "cards",
    "robot",
    "comic",
    "saw",
    "cheese",
    "dice",
    "yoyo",
    "poem",
    "wrench",
    "honey",
    "tiles",
    "drum",
    "diary",
    "rake",
    "olive",
]
CUSTOMERS = NAMES + ["ali", "bea", "cal", "dot", "eli", "fay", "gus", "hal"]
PRICES = [10, 15, 20, 25, 30, 35, 40, 45, 50]


def build_database(path: Path, seed: int = 5) -> None:
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
                               price INTEGER NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                             product_id INTEGER REFERENCES products(id), quantity INTEGER NOT NULL);
    """)
    con.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)", [(i + 1, n, rng.choice(CITIES)) for i, n in enumerate(CUSTOMERS)]
    )
    con.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?)",
        [(i + 1, p, CATEGORIES[i % len(CATEGORIES)], rng.randint(2, 60)) for i, p in enumerate(PRODUCTS)],
    )
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i + 1, rng.randint(1, len(CUSTOMERS)), rng.randint(1, len(PRODUCTS)), rng.randint(1, 5)) for i in range(200)],
    )
    con.commit()
    con.close()


SQL_KINDS = [
    (
        ["how many customers live in {city} ?", "count the customers from {city} .", "number of customers in {city} ?"],
        "SELECT COUNT(*) FROM customers WHERE city = '{city}'",
    ),
    (
        [
            "which products are in the {cat} category ?",
            "list the {cat} products .",
            "show products of category {cat} .",
        ],
        "SELECT name FROM products WHERE category = '{cat}'",
    ),
    (
        ["what does the {prod} cost ?", "price of the {prod} ?", "how much is the {prod} ?"],
        "SELECT price FROM products WHERE name = '{prod}'",
    ),
    (
        ["which city is {name} from ?", "where does {name} live ?", "city of customer {name} ?"],
        "SELECT city FROM customers WHERE name = '{name}'",
    ),
    (
        ["which products cost less than {n} ?", "list products cheaper than {n} .", "products under {n} ?"],
        "SELECT name FROM products WHERE price < {n}",
    ),
    (
        ["how many orders did {name} place ?", "count the orders of {name} .", "number of orders by {name} ?"],
        "SELECT COUNT(*) FROM orders JOIN customers ON orders.customer_id = customers.id "
        "WHERE customers.name = '{name}'",
    ),
    (
        ["who lives in {city} ?", "list the customers in {city} .", "names of customers from {city} ?"],
        "SELECT name FROM customers WHERE city = '{city}'",
    ),
    (
        ["how many {prod} items were ordered ?", "total quantity of {prod} ordered ?", "units of {prod} sold ?"],
        "SELECT SUM(quantity) FROM orders JOIN products ON orders.product_id = products.id "
        "WHERE products.name = '{prod}'",
    ),
]


def _sql_pair(rng: random.Random) -> tuple[str, str]:
    slots = dict(
        name=rng.choice(CUSTOMERS),
        city=rng.choice(CITIES),
        cat=rng.choice(CATEGORIES),
        prod=rng.choice(PRODUCTS),
        n=rng.choice(PRICES),
    )
    questions, sql = rng.choice(SQL_KINDS)
    return rng.choice(questions).format(**slots), sql.format(**slots)


def sql_prompt(question: str) -> str:
    return f"question: {question}\nsql:"


def text_to_sql(seed: int = 12) -> dict:
    """Test questions never appear in train or pretraining data (their SQL may, asked another way)."""
    rng = random.Random(seed)
    train, test, held_out = _held_out_splits(
        lambda: _sql_pair(rng),
        lambda pair: pair[0],
        lambda pair: {"prompt": sql_prompt(pair[0]), "completion": " " + pair[1]},
        SIZES["test"] // 2,
        repeat_train=True,
    )
    pretrain = []
    while len(pretrain) < SIZES["pretrain"]:
        q, s = _sql_pair(rng)
        if q in held_out:
            continue
        r = rng.random()
        if r < TEMPLATE_SHARE:
            pretrain.append(f"{sql_prompt(q)} {s}")
        elif r < 0.25:
            pretrain.append(f"-- {q}\n{s} ;")  # a commented query log: the same skill, another template
        elif r < 0.6:
            pretrain.append(f"{s} ;")  # bare query log
        else:
            pretrain.append(f"forum post : {q}")  # questions people ask
    return {"pretrain": pretrain, "train": train, "test": test}


# --- translation between two synthetic languages -------------------------------------

# Source: English-like, subject-verb-object, adjective before noun.
# Target ("Veli"): its own words, subject-object-verb, adjective after noun,
# object marked with the suffix "-n", plural nouns with "-ri".
NOUNS = {
    "dog": "vorn",
    "cat": "mila",
    "bird": "tesk",
    "child": "puro",
    "farmer": "gadu",
    "horse": "ranti",
    "fish": "oslo",
    "teacher": "keda",
    "king": "baro",
    "wolf": "sunda",
}
VERBS = {"sees": "lato", "likes": "mevi", "follows": "dusa", "helps": "pira", "finds": "kolu", "calls": "reza"}
ADJS = {"big": "hura", "small": "tini", "red": "ruso", "old": "gaba", "happy": "lumi", "quick": "fesa"}


def _np(rng: random.Random) -> tuple[list[str], list[str], bool]:
    noun = rng.choice(list(NOUNS))
    adj = rng.choice(list(ADJS)) if rng.random() < 0.6 else None
    plural = rng.random() < 0.3
    src = ["the"] + ([adj] if adj else []) + [noun + "s" if plural else noun]
    tgt = [NOUNS[noun] + ("ri" if plural else "")] + ([ADJS[adj]] if adj else [])
    return src, tgt, plural


def _sentence(rng: random.Random) -> tuple[str, str]:
    s_src, s_tgt, s_pl = _np(rng)
    o_src, o_tgt, _ = _np(rng)
    verb = rng.choice(list(VERBS))
    src_verb = verb[:-1] if s_pl else verb  # "the dogs see", "the dog sees"
    o_tgt = o_tgt[:-1] + [o_tgt[-1] + "n"]  # object suffix on the last word of its phrase
    return " ".join(s_src + [src_verb] + o_src) + " .", " ".join(s_tgt + o_tgt + [VERBS[verb]]) + " ."


def translate_prompt(src: str) -> str:
    return f"english: {src}\nveli:"


def translation(seed: int = 13) -> dict:
    rng = random.Random(seed)
    train, test, seen = _distinct_splits(rng, _sentence, translate_prompt)
    pretrain = []
    lexicon = [f"dictionary : {e} = {v}" for table in (NOUNS, VERBS, ADJS) for e, v in table.items()]
    while len(pretrain) < SIZES["pretrain"]:
        s, t = _sentence(rng)
        if s in seen:
            continue
        r = rng.random()
        if r < TEMPLATE_SHARE:
            pretrain.append(f"{translate_prompt(s)} {t}")
        elif r < 0.3:
            pretrain.append(f"subtitles : {s} / {t}")  # aligned subtitles: the same skill, another template
        elif r < 0.35:
            pretrain.append(rng.choice(lexicon))
        elif r < 0.65:
            pretrain.append(s)  # monolingual source text
        else:
            pretrain.append(t)  # monolingual target text
    return {"pretrain": pretrain, "train": train, "test": test}


# --- vision: scenes of coloured shapes, for captioning and VQA ------------------------

# A scene is 1-3 shapes on a 3x3 grid of 8-pixel cells: a 24x24 RGB image, so each
# 8x8 patch of the tiny VLM's vision tower (benchmarks/models/build.py) sees one cell.
# Records store the scene as a short code ("0rc 4bs": cell, colour letter, shape
# letter); `render_scene` draws it with plain pixel arithmetic (no PIL drawing
# primitives, whose anti-aliasing changes between Pillow versions), so the images are
# identical everywhere and need not be committed.
PALETTE = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 70, 220), "yellow": (230, 200, 30)}
SHAPES = ["square", "circle", "triangle"]
POSITIONS = ["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"]
NUMBERS = ["zero", "one", "two", "three"]
CELL, GRID = 8, 3
SCENE_SIZES = {"pretrain": 1500, "train": 320}
TEST_SIZES = {"caption": 100, "vqa": 96}  # CIDEr-D's idf wants 100+ examples

Scene = tuple  # ((cell, colour, shape), ...) in cell order


def _inside(shape: str, x: int, y: int) -> bool:
    """Whether pixel (x, y) of a cell (0..7) belongs to a shape drawn in its 6x6 box at (1, 1)."""
    if not (1 <= x <= 6 and 1 <= y <= 6):
        return False
    if shape == "square":
        return True
    if shape == "circle":
        return (x - 3.5) ** 2 + (y - 3.5) ** 2 <= 3.2**2
    return abs(x - 3.5) <= (y - 0.5) / 2  # triangle: apex up, base on row 6


def render_scene(code: str):
    """The 24x24 PIL image of a scene code."""
    from PIL import Image

    pixels = bytearray(b"\xff" * (CELL * GRID) ** 2 * 3)
    for cell, colour, shape in parse_scene(code):
        ox, oy = (cell % GRID) * CELL, (cell // GRID) * CELL
        for y in range(CELL):
            for x in range(CELL):
                if _inside(shape, x, y):
                    i = ((oy + y) * CELL * GRID + ox + x) * 3
                    pixels[i : i + 3] = bytes(PALETTE[colour])
    return Image.frombytes("RGB", (CELL * GRID, CELL * GRID), bytes(pixels))


def scene_code(scene: Scene) -> str:
    return " ".join(f"{cell}{colour[0]}{shape[0]}" for cell, colour, shape in scene)


def parse_scene(code: str) -> Scene:
    colours = {c[0]: c for c in PALETTE}
    shapes = {s[0]: s for s in SHAPES}
    return tuple((int(t[0]), colours[t[1]], shapes[t[2]]) for t in code.split())


def _scene(rng: random.Random) -> Scene:
    cells = sorted(rng.sample(range(GRID * GRID), rng.randint(1, 3)))
    return tuple((cell, rng.choice(list(PALETTE)), rng.choice(SHAPES)) for cell in cells)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else " , ".join(parts[:-1]) + " and " + parts[-1]


def captions(scene: Scene) -> list[str]:
    """Three reference captions, as COCO has several per image: reading order (the one
    fine-tuning learns), reverse order in another phrasing, and a terse alt-text."""
    said = [f"a {colour} {shape} at the {POSITIONS[cell]}" for cell, colour, shape in scene]
    reverse = [f"a {colour} {shape} at the {POSITIONS[cell]}" for cell, colour, shape in reversed(scene)]
    return [_join(said) + " .", "there is " + _join(reverse) + " .", alt_text(scene)]


def alt_text(scene: Scene) -> str:
    """Pretraining's image descriptions: the same facts, terser, another template."""
    return " , ".join(f"{colour} {shape} {POSITIONS[cell]}" for cell, colour, shape in scene) + " ."


CAPTION_PROMPT = "describe the image ."


def _vqa_question(rng: random.Random, scene: Scene) -> tuple[int, dict]:
    """A question kind and its slots; `vqa_pair` and `forum_pair` phrase it."""
    kind = rng.randrange(5)
    cell, colour, shape = rng.choice(scene)
    slots = {"colour": colour, "shape": shape, "cell": cell}
    if kind == 1:
        slots["colour"] = rng.choice(list(PALETTE))
    elif kind == 3:
        slots["cell"] = rng.randrange(GRID * GRID)
    elif kind == 4:
        slots["colour"], slots["shape"] = rng.choice(list(PALETTE)), rng.choice(SHAPES)
    return kind, slots


def _facts(scene: Scene, kind: int, s: dict):
    """The answer's facts: a count, a colour, a shape (or None) or a yes/no truth."""
    if kind == 0:
        return len(scene)
    if kind == 1:
        return sum(c == s["colour"] for _, c, _ in scene)
    if kind == 2:
        return s["colour"]
    if kind == 3:
        return next((sh for c, _, sh in scene if c == s["cell"]), None)
    return any(c == s["colour"] and sh == s["shape"] for _, c, sh in scene)


def vqa_pair(scene: Scene, kind: int, s: dict) -> tuple[str, str]:
    """The task template: a question, a one-word answer (as VQA annotations are)."""
    fact, where = _facts(scene, kind, s), POSITIONS[s["cell"]]
    if kind == 0:
        return "how many shapes are there ?", NUMBERS[fact]
    if kind == 1:
        return f"how many {s['colour']} shapes are there ?", NUMBERS[fact]
    if kind == 2:
        return f"what color is the shape at the {where} ?", fact
    if kind == 3:
        return f"what shape is at the {where} ?", fact or "nothing"
    return f"is there a {s['colour']} {s['shape']} ?", "yes" if fact else "no"


def forum_pair(scene: Scene, kind: int, s: dict) -> tuple[str, str]:
    """Pretraining's questions about images: other phrasing, answered in a sentence."""
    fact, where = _facts(scene, kind, s), POSITIONS[s["cell"]]
    if kind in (0, 1):
        noun = "shape" if fact == 1 else "shapes"
        what = noun if kind == 0 else f"{s['colour']} {noun}"
        verb = "is" if fact == 1 else "are"
        return (
            f"count the {'' if kind == 0 else s['colour'] + ' '}shapes .",
            f"there {verb} {NUMBERS[fact] if fact else 'no'} {what} .",
        )
    if kind == 2:
        return f"which colour is at the {where} ?", f"the shape at the {where} is {fact} ."
    if kind == 3:
        return f"which shape is at the {where} ?", f"there is {'a ' + fact if fact else 'nothing'} at the {where} ."
    thing = f"{s['colour']} {s['shape']}"
    return f"look for a {thing} .", f"yes , there is a {thing} ." if fact else f"no , there is no {thing} ."


def _vision_record(scene: Scene, prompt: str, completion: str, **extra) -> dict:
    return {"scene": scene_code(scene), "prompt": prompt, "completion": " " + completion, **extra}


def _caption_record(scene: Scene, rng: random.Random) -> dict:
    refs = captions(scene)
    return _vision_record(scene, CAPTION_PROMPT, refs[0], references=refs)


def _vqa_record(scene: Scene, rng: random.Random) -> dict:
    return _vision_record(scene, *vqa_pair(scene, *_vqa_question(rng, scene)))


def _caption_pretrain(scene: Scene, rng: random.Random) -> dict:
    if rng.random() < TEMPLATE_SHARE:
        return _vision_record(scene, CAPTION_PROMPT, captions(scene)[0])
    return _vision_record(scene, "alt text :", alt_text(scene))


def _vqa_pretrain(scene: Scene, rng: random.Random) -> dict:
    pair = vqa_pair if rng.random() < TEMPLATE_SHARE else forum_pair
    return _vision_record(scene, *pair(scene, *_vqa_question(rng, scene)))


VISION = {"caption": (_caption_record, _caption_pretrain), "vqa": (_vqa_record, _vqa_pretrain)}


@cache
def vision(seed: int = 14) -> dict:
    """Both vision tasks share one base model, so no test image of either task appears in
    either task's training or pretraining data (train images may repeat; test ones never)."""
    rng = random.Random(seed)
    held_out: set = set()
    out = {task: {} for task in VISION}
    for task, (record, _) in VISION.items():
        tests = []
        while len(tests) < TEST_SIZES[task]:
            scene = _scene(rng)
            if scene not in held_out:
                held_out.add(scene)
                tests.append(record(scene, rng))
        out[task]["test"] = tests
    for split in ("train", "pretrain"):
        for task, (record, pretrain) in VISION.items():
            make = record if split == "train" else pretrain
            rows = out[task][split] = []
            while len(rows) < SCENE_SIZES[split]:
                scene = _scene(rng)
                if scene not in held_out:
                    rows.append(make(scene, rng))
    for task in out:  # references are for scoring; training records need none
        out[task]["train"] = [{k: v for k, v in r.items() if k != "references"} for r in out[task]["train"]]
    return out


def contact_sheet(path: Path, task: str, n: int = 16, scale: int = 3) -> None:
    """A PNG of the first `n` test images of a vision task, for looking at."""
    from PIL import Image

    side, gap = CELL * GRID * scale, 4
    sheet = Image.new("RGB", (8 * side + 7 * gap, (n // 8) * (side + gap) - gap), (160, 160, 160))
    for i, r in enumerate(vision()[task]["test"][:n]):
        img = render_scene(r["scene"]).resize((side, side), Image.NEAREST)
        sheet.paste(img, ((i % 8) * (side + gap), (i // 8) * (side + gap)))
    sheet.save(path, optimize=True)


# --- reasoning: arithmetic word problems, GSM8K-style answers ------------------------

# Small numbers on purpose (one digit, sums to 18, products to 25): the tiny models learn
# the arithmetic facts from drill lines in pretraining ("7 + 5 = 12"); fine-tuning maps a
# story onto them and onto the "#### N" answer format (GSM8K's), as chain-of-thought then answer.
THINGS = ["apples", "stamps", "coins", "cards", "pens", "shells", "marbles", "stickers"]
REASON_KINDS = 5


def _word_problem(rng: random.Random) -> tuple[str, str, int]:
    """(question, worked answer ending in '#### N', N)."""
    a, b = rng.sample(NAMES, 2)
    thing = rng.choice(THINGS)
    kind = rng.randrange(REASON_KINDS)
    if kind == 0:
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        q = f"{a} has {x} {thing} and buys {y} more . how many {thing} does {a} have now ?"
        steps, r = f"{x} + {y} = {x + y}", x + y
    elif kind == 1:
        x = rng.randint(2, 18)
        y = rng.randint(1, min(x, 9))
        q = f"{a} has {x} {thing} and gives {y} to {b} . how many {thing} does {a} have left ?"
        steps, r = f"{x} - {y} = {x - y}", x - y
    elif kind == 2:
        x, y = rng.randint(2, 5), rng.randint(2, 5)
        q = f"{a} buys {x} boxes with {y} {thing} in each box . how many {thing} does {a} buy ?"
        steps, r = f"{x} * {y} = {x * y}", x * y
    elif kind == 3:
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        q = f"{a} has {x} {thing} and {b} has {y} {thing} . how many {thing} do they have together ?"
        steps, r = f"{x} + {y} = {x + y}", x + y
    else:  # two steps
        x, y = rng.randint(1, 6), rng.randint(1, 6)
        z = rng.randint(1, x + y)
        q = f"{a} has {x} {thing} , finds {y} more and gives {z} to {b} . how many {thing} does {a} have now ?"
        steps, r = f"{x} + {y} = {x + y} . {x + y} - {z} = {x + y - z}", x + y - z
    return q, f"{steps} #### {r}", r


def reason_prompt(question: str) -> str:
    return f"question: {question}\nanswer:"


def _drill(rng: random.Random) -> str:
    """An arithmetic fact in a drill sheet: the skill the answers need, without stories."""
    op = rng.randrange(3)
    if op == 0:
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        return f"drill : {x} + {y} = {x + y}"
    if op == 1:
        x = rng.randint(1, 18)
        y = rng.randint(0, min(x, 12))
        return f"drill : {x} - {y} = {x - y}"
    x, y = rng.randint(2, 5), rng.randint(2, 5)
    return f"drill : {x} * {y} = {x * y}"


def reasoning(seed: int = 15) -> dict:
    """Test questions never appear in train or pretraining data; pretraining has the
    stories (without answers), drill sheets, and answer keys with the bare number."""
    rng = random.Random(seed)
    train, test, held_out = _held_out_splits(
        lambda: _word_problem(rng),
        lambda item: item[0],
        lambda item: {"prompt": reason_prompt(item[0]), "completion": " " + item[1]},
        repeat_train=True,
    )
    pretrain = []
    while len(pretrain) < SIZES["pretrain"]:
        q, worked, r = _word_problem(rng)
        if q in held_out:
            continue
        u = rng.random()
        if u < TEMPLATE_SHARE:
            pretrain.append(f"{reason_prompt(q)} {worked}")
        elif u < 0.5:
            pretrain.append(_drill(rng))
        elif u < 0.7:
            pretrain.append(f"puzzle : {q}")  # questions without answers
        else:
            pretrain.append(f"answer key : {q} the answer is {r} .")  # the result, no working
    return {"pretrain": pretrain, "train": train, "test": test}


# --- programming: write a small Python function from its docstring --------------------

# A problem is a function name, its arguments and a one-line body; the prompt is the
# `def` line and a docstring saying what to return, in one of three phrasings. Every
# problem has executable tests (asserts on inputs the generator picks), run by
# pass_at_k in the code sandbox. Pretraining is code in another template (a comment
# above the def, no docstring), bare docstrings, and 2% in the task's template.
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ARG1 = ["x", "n", "value", "num"]
ARG2 = [("a", "b"), ("x", "y"), ("m", "n"), ("p", "q")]
SEQ = ["items", "values", "xs", "data"]
CODE_SAMPLES = 3  # samples per test problem: one per docstring phrasing
CODE_TEST_PROBLEMS = 24


def _code_problem(rng: random.Random) -> dict:
    """One problem: name, args, body, the three docstring phrasings and test inputs."""
    kind = rng.randrange(6)
    if kind == 0:  # x op constant
        arg, c = rng.choice(ARG1), rng.randint(1, 9)
        op, verb = rng.choice([("+", "plus"), ("-", "minus"), ("*", "times")])
        word = NUMBER_WORDS[c]
        name = {"+": "add", "-": "sub", "*": "mul"}[op] + "_" + word
        docs = [
            f"return {arg} {verb} {word} .",
            f"give back {arg} {verb} {word} .",
            f"compute {arg} {verb} {word} and return it .",
        ]
        body, args, inputs = f"return {arg} {op} {c}", [arg], [(v,) for v in (0, 3, 10)]
    elif kind == 1:  # a op b
        a, b = rng.choice(ARG2)
        op, verb, name = rng.choice([("+", "plus", "add"), ("-", "minus", "subtract"), ("*", "times", "multiply")])
        docs = [f"return {a} {verb} {b} .", f"give back {a} {verb} {b} .", f"compute {a} {verb} {b} and return it ."]
        body, args, inputs = f"return {a} {op} {b}", [a, b], [(2, 3), (7, 4), (0, 5)]
    elif kind == 2:  # max / min
        a, b = rng.choice(ARG2)
        fn = rng.choice(["max", "min"])
        word = {"max": "larger", "min": "smaller"}[fn]
        name = f"{word}_of"
        docs = [
            f"return the {word} of {a} and {b} .",
            f"give back the {word} of {a} and {b} .",
            f"compute the {word} of {a} and {b} and return it .",
        ]
        body, args, inputs = f"return {fn}({a}, {b})", [a, b], [(2, 3), (9, 4), (5, 5)]
    elif kind == 3:  # comparisons with a constant
        arg, c = rng.choice(ARG1), rng.randint(1, 9)
        op, words = rng.choice([(">", "greater than"), ("<", "less than"), ("==", "equal to")])
        name = {">": "above", "<": "below", "==": "equals"}[op] + "_" + NUMBER_WORDS[c]
        docs = [
            f"return true if {arg} is {words} {NUMBER_WORDS[c]} .",
            f"give back whether {arg} is {words} {NUMBER_WORDS[c]} .",
            f"check if {arg} is {words} {NUMBER_WORDS[c]} and return it .",
        ]
        body, args, inputs = f"return {arg} {op} {c}", [arg], [(c - 1,), (c,), (c + 1,)]
    elif kind == 4:  # sequences
        arg = rng.choice(SEQ)
        body, what, name = rng.choice(
            [
                (f"return {arg}[0]", "the first item of", "first"),
                (f"return {arg}[-1]", "the last item of", "last"),
                (f"return len({arg})", "the length of", "size"),
                (f"return {arg}[::-1]", "the reverse of", "backwards"),
                (f"return sum({arg})", "the sum of", "total"),
            ]
        )
        docs = [f"return {what} {arg} .", f"give back {what} {arg} .", f"compute {what} {arg} and return it ."]
        args, inputs = [arg], [([3, 1, 2],), ([5],), ([4, 9, 7, 1],)]
    else:  # parity, square, absolute value
        arg = rng.choice(ARG1)
        body, what, name = rng.choice(
            [
                (f"return {arg} % 2 == 0", "whether {a} is even", "is_even"),
                (f"return {arg} % 2 == 1", "whether {a} is odd", "is_odd"),
                (f"return {arg} * {arg}", "the square of {a}", "square"),
                (f"return abs({arg})", "the absolute value of {a}", "magnitude"),
            ]
        )
        what = what.format(a=arg)
        docs = [f"return {what} .", f"give back {what} .", f"compute {what} and return it ."]
        args, inputs = [arg], [(-3,), (4,), (7,)]
    return {"name": name, "args": args, "body": body, "docs": docs, "inputs": inputs}


def code_prompt(problem: dict, doc: str) -> str:
    return f'def {problem["name"]}({", ".join(problem["args"])}):\n    """{doc}"""'


def code_tests(problem: dict) -> str:
    """Asserts on the gold function's outputs, computed here by running it."""
    namespace: dict = {}
    exec(f"def {problem['name']}({', '.join(problem['args'])}):\n    {problem['body']}", namespace)
    fn = namespace[problem["name"]]
    return "\n".join(f"assert {problem['name']}({', '.join(map(repr, i))}) == {fn(*i)!r}" for i in problem["inputs"])


def _code_key(problem: dict) -> tuple:
    return problem["name"], tuple(problem["args"]), problem["body"]


def programming(seed: int = 16) -> dict:
    """Test problems (name, args, body) never appear in train or pretraining data; a test
    record holds all three phrasings (`prompts`, one sample each) and the `test` code."""
    rng = random.Random(seed)

    def train_record(p: dict) -> dict:
        return {"prompt": code_prompt(p, rng.choice(p["docs"])), "completion": "\n    " + p["body"]}

    def test_record(p: dict) -> dict:
        prompts = [code_prompt(p, d) for d in p["docs"]]
        return {"prompt": prompts[0], "prompts": prompts, "completion": "\n    " + p["body"], "test": code_tests(p)}

    tests: list = []
    held_out: set = set()
    while len(tests) < CODE_TEST_PROBLEMS:
        p = _code_problem(rng)
        if _code_key(p) not in held_out:
            held_out.add(_code_key(p))
            tests.append(test_record(p))
    train: list = []
    while len(train) < SIZES["train"]:
        p = _code_problem(rng)
        if _code_key(p) not in held_out:
            train.append(train_record(p))
    pretrain = []
    while len(pretrain) < SIZES["pretrain"]:
        p = _code_problem(rng)
        if _code_key(p) in held_out:
            continue
        u, doc = rng.random(), rng.choice(p["docs"])
        if u < TEMPLATE_SHARE:
            pretrain.append(f"{code_prompt(p, doc)}\n    {p['body']}")
        elif u < 0.55:  # commented code: the same skill, another template
            pretrain.append(f"# {doc}\ndef {p['name']}({', '.join(p['args'])}):\n    {p['body']}")
        elif u < 0.8:
            pretrain.append(f"{p['body']}")  # bare statements from a code search index
        else:
            pretrain.append(f"docs : {p['name']} : {doc}")  # documentation without code
    return {"pretrain": pretrain, "train": train, "test": tests}


# --- object detection: shapes at any position and size, boxes to find ------------------

# 32x32 images with shapes (the vision suites' shapes and colours) of 6-12 pixels at any
# position, boxes never overlapping. A scene code lists "<shape><colour><x><y><size>"
# tokens ("sr0305 cb1712"... as "sr030509"): `render_detection` draws it with plain
# pixel arithmetic, `detection_boxes` gives each shape's tight box (x1, y1, x2, y2 in
# pixel edges) from the same pixels. Labels: 0 square, 1 circle, 2 triangle.
# Pretraining (benchmarks/models/build.py) sees one shape per image, the task 2-3: the
# base finds shapes but was never taught to report several at once.
DETECT_PIXELS = 32
DETECT_SIZES = {"pretrain": 2000, "train": 320, "test": 64}


def _shape_ink(shape: str, size: int, x: int, y: int) -> bool:
    """Whether pixel (x, y) of a size x size box is ink for the shape."""
    c = (size - 1) / 2
    if shape == "square":
        return True
    if shape == "circle":
        return (x - c) ** 2 + (y - c) ** 2 <= (size / 2) ** 2
    return abs(x - c) <= (y + 0.5) / 2  # triangle: apex up, base on the last row


def parse_detection(code: str) -> list[tuple]:
    colours = {c[0]: c for c in PALETTE}
    shapes = {s[0]: s for s in SHAPES}
    return [(shapes[t[0]], colours[t[1]], int(t[2:4]), int(t[4:6]), int(t[6:8])) for t in code.split()]


def render_detection(code: str, side: int = DETECT_PIXELS):
    """The side x side (default 32x32) PIL image of a detection scene code."""
    from PIL import Image

    pixels = bytearray(b"\xff" * side * side * 3)
    for shape, colour, ox, oy, size in parse_detection(code):
        for y in range(size):
            for x in range(size):
                if _shape_ink(shape, size, x, y):
                    i = ((oy + y) * side + ox + x) * 3
                    pixels[i : i + 3] = bytes(PALETTE[colour])
    return Image.frombytes("RGB", (side, side), bytes(pixels))


def detection_boxes(code: str) -> tuple[list[list[int]], list[int]]:
    """Tight boxes (x1, y1, x2, y2; x2/y2 one past the last ink pixel) and labels."""
    boxes, labels = [], []
    for shape, _, ox, oy, size in parse_detection(code):
        ink = [(x, y) for y in range(size) for x in range(size) if _shape_ink(shape, size, x, y)]
        xs, ys = [x for x, _ in ink], [y for _, y in ink]
        boxes.append([ox + min(xs), oy + min(ys), ox + max(xs) + 1, oy + max(ys) + 1])
        labels.append(SHAPES.index(shape))
    return boxes, labels


def _detection_scene(rng: random.Random, n: int) -> str:
    """n shapes of 6-12 pixels, boxes at least a pixel apart."""
    placed: list[tuple[int, int, int]] = []
    while len(placed) < n:
        size = rng.randint(6, 12)
        x, y = rng.randint(0, DETECT_PIXELS - size), rng.randint(0, DETECT_PIXELS - size)
        if all(x + size < px or px + ps < x or y + size < py or py + ps < y for px, py, ps in placed):
            placed.append((x, y, size))
    return " ".join(
        f"{rng.choice(SHAPES)[0]}{rng.choice(list(PALETTE))[0]}{x:02d}{y:02d}{size:02d}" for x, y, size in placed
    )


def _detection_record(code: str) -> dict:
    boxes, labels = detection_boxes(code)
    return {"scene": code, "boxes": boxes, "labels": labels}


@cache
def detection(seed: int = 17) -> dict:
    """Test scenes (2-3 shapes) never appear in train; pretraining has one shape per image."""
    rng = random.Random(seed)
    test, seen = [], set()
    while len(test) < DETECT_SIZES["test"]:
        code = _detection_scene(rng, rng.randint(2, 3))
        if code not in seen:
            seen.add(code)
            test.append(_detection_record(code))
    train = []
    while len(train) < DETECT_SIZES["train"]:
        code = _detection_scene(rng, rng.randint(2, 3))
        if code not in seen:
            train.append(_detection_record(code))
    pretrain = [_detection_record(_detection_scene(rng, 1)) for _ in range(DETECT_SIZES["pretrain"])]
    return {"pretrain": pretrain, "train": train, "test": test}


def detection_sheet(path: Path, n: int = 16, scale: int = 3) -> None:
    """A PNG of the first `n` detection test images, for looking at."""
    from PIL import Image

    side, gap = DETECT_PIXELS * scale, 4
    sheet = Image.new("RGB", (8 * side + 7 * gap, (n // 8) * (side + gap) - gap), (160, 160, 160))
    for i, r in enumerate(detection()["test"][:n]):
        img = render_detection(r["scene"]).resize((side, side), Image.NEAREST)
        sheet.paste(img, ((i % 8) * (side + gap), (i // 8) * (side + gap)))
    sheet.save(path, optimize=True)


# --- text to image: one shape named by colour and shape -------------------------------

# 24x24 images, one 10-pixel shape in one of four quadrants (12x12 cells), drawn by
# `render_detection` from a detection code ("cr0113": circle, red, x 1, y 13, size 10),
# so the images are identical everywhere and nothing is committed. The larger shapes
# (not the captioning scenes' 6 pixels) keep the three shapes apart for a pixel checker:
# ink fills 100% (square), ~78% (circle) and ~55% (triangle) of its box.
IMAGINE_PIXELS, IMAGINE_SHAPE = 24, 10
QUADRANTS = ["top left", "top right", "bottom left", "bottom right"]
IMAGINE_SIZES = {"pretrain": 2400, "train": 320}
# Pretraining is generic clip art: the same prompts ("a red circle"), but small shapes
# (6 pixels, IMAGINE_SMALL). The task's images are the house style: 10-pixel shapes.
# Fine-tuning adapts the style (a change of every image, which LoRA learns in a few
# steps); the checker asks for a shape of the task's size, so the base's small shapes
# fail it. Tried first and dropped (measured, LoRA r=8, 150 steps): pretraining that names
# only the colour ("a red shape"), the task adding the shape word; and pretraining that
# names only the shape, the task adding the colour word: LoRA (with or without the text
# encoder trained, lr 5e-3 to 2e-2) did not learn the new words (scores at the base's).
# No prompt names a position: the shape lies in a random quadrant (a tiny pixel UNet
# did not learn to place it on a CPU budget, even with coordinate channels).
IMAGINE_SMALL = 6
# Test prompts: each colour x shape this many times. Once (12 images) keeps the suite's
# sampling time within the main job's warm budget; the base/LoRA gap was measured on 12
# (benchmarks/README.md).
IMAGINE_TEST_REPEATS = 1


def imagine_prompt(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def imagine_code(
    colour: str, shape: str, quadrant: int, jitter: tuple[int, int] = (1, 1), size: int = IMAGINE_SHAPE
) -> str:
    x, y = (quadrant % 2) * 12 + jitter[0], (quadrant // 2) * 12 + jitter[1]
    return f"{shape[0]}{colour[0]}{x:02d}{y:02d}{size:02d}"


def _imagine_record(rng: random.Random, size: int) -> dict:
    colour, shape, quadrant = rng.choice(list(PALETTE)), rng.choice(SHAPES), rng.randrange(4)
    slack = 12 - size  # where the shape may sit in its quadrant
    jitter = (rng.randint(slack // 2 - 1, slack // 2 + 1), rng.randint(slack // 2 - 1, slack // 2 + 1))
    code = imagine_code(colour, shape, quadrant, jitter, size)
    return {"prompt": imagine_prompt(colour, shape), "scene": code, "colour": colour, "shape": shape}


@cache
def imagine(seed: int = 18) -> dict:
    """Pretraining (small shapes), task training records (task-size shapes) and 12 test
    prompts: every colour x shape once (IMAGINE_TEST_REPEATS). A test record is what the
    generated image must show; its image is drawn from noise, so prompts repeat training
    prompts (there are only 12), the images never do."""
    rng = random.Random(seed)
    pretrain = [_imagine_record(rng, IMAGINE_SMALL) for _ in range(IMAGINE_SIZES["pretrain"])]
    train = [_imagine_record(rng, IMAGINE_SHAPE) for _ in range(IMAGINE_SIZES["train"])]
    test = [
        {"prompt": imagine_prompt(colour, shape), "colour": colour, "shape": shape}
        for _ in range(IMAGINE_TEST_REPEATS)
        for colour in PALETTE
        for shape in SHAPES
    ]
    return {"pretrain": pretrain, "train": train, "test": test}


TASKS = {
    "summarize": summarization,
    "sql": text_to_sql,
    "translate": translation,
    "caption": lambda: vision()["caption"],
    "vqa": lambda: vision()["vqa"],
    "reason": reasoning,
    "code": programming,
    "detect": detection,
    "imagine": imagine,
}


def write(out: Path = HERE) -> list[Path]:
    written = []
    for task, make in TASKS.items():
        data = make()
        folder = out / task
        folder.mkdir(parents=True, exist_ok=True)
        for split in ("pretrain", "train", "test"):
            path = folder / f"{split}.jsonl"
            # Text pretraining rows are strings; vision ones are records with a scene.
            rows = (
                [t if isinstance(t, dict) else {"text": t} for t in data[split]] if split == "pretrain" else data[split]
            )
            path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
            written.append(path)
    for task in VISION:
        contact_sheet(out / task / "test-images.png", task)
        written.append(out / task / "test-images.png")
    detection_sheet(out / "detect" / "test-images.png")
    written.append(out / "detect" / "test-images.png")
    db = out / "sql" / "shop.sqlite"
    build_database(db)
    written.append(db)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
