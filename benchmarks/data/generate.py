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

Seeds are fixed; re-running writes byte-identical files (the test suite checks it).
"""
from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"pretrain": 3000, "train": 320, "test": 96}
TEMPLATE_SHARE = 0.02   # share of pretraining docs in the exact task template

# --- dialogue summarization ---------------------------------------------------------

NAMES = ["ann", "tom", "eva", "max", "lia", "ben", "zoe", "sam", "ida", "leo",
         "mia", "jon", "ada", "kai", "una", "ray"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
PLACES = ["the cafe", "the park", "the library", "the gym", "the station", "the office", "the market"]
TIMES = ["nine", "ten", "noon", "two", "four", "six", "eight"]
ITEMS = ["book", "bike", "camera", "laptop", "umbrella", "ladder", "guitar"]
ACTS = ["lunch", "coffee", "a walk", "a run", "dinner", "a meeting"]


def _dialogue(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(NAMES, 2)
    day, place, time, item, act = (rng.choice(DAYS), rng.choice(PLACES), rng.choice(TIMES),
                                   rng.choice(ITEMS), rng.choice(ACTS))
    day2 = rng.choice([d for d in DAYS if d != day])
    kind = rng.randrange(4)
    if kind == 0:
        turns = [f"{a}: hi {b} , want to have {act} on {day} ?",
                 f"{b}: sure , where ?", f"{a}: {place} at {time} .", f"{b}: ok , see you then ."]
        summary = f"{a} and {b} will have {act} at {place} on {day} at {time} ."
    elif kind == 1:
        turns = [f"{a}: {b} , can i borrow your {item} ?", f"{b}: yes , when do you need it ?",
                 f"{a}: on {day} .", f"{b}: fine , pick it up at {place} ."]
        summary = f"{b} will lend {a} the {item} on {day} at {place} ."
    elif kind == 2:
        turns = [f"{a}: sorry {b} , i can not make it on {day} .", f"{b}: no problem , what about {day2} ?",
                 f"{a}: {day2} works , at {time} .", f"{b}: great ."]
        summary = f"{a} and {b} moved their plan from {day} to {day2} at {time} ."
    else:
        turns = [f"{a}: did you see my {item} ?", f"{b}: i think you left it at {place} .",
                 f"{a}: thanks , i will go there on {day} ."]
        summary = f"{a} left the {item} at {place} and will get it on {day} ."
    return " ".join(turns), summary


def _held_out_splits(draw, key, record, n_test: int = SIZES["test"], *,
                     repeat_train: bool = False) -> tuple[list, list, set]:
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
    return _held_out_splits(lambda: make_pair(rng), lambda pair: pair[0],
                            lambda pair: {"prompt": prompt(pair[0]), "completion": " " + pair[1]})


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
            pretrain.append(d)                     # chat logs on their own
        else:
            pretrain.append(f"note : {s}")          # diary notes on their own, unpaired
    return {"pretrain": pretrain, "train": train, "test": test}


# --- text-to-SQL ---------------------------------------------------------------------

CITIES = ["paris", "oslo", "rome", "lima", "cairo", "delhi", "tokyo", "quito", "sofia", "dakar"]
CATEGORIES = ["toys", "books", "tools", "food", "games"]
PRODUCTS = ["kite", "puzzle", "novel", "atlas", "hammer", "drill", "apple", "bread", "chess",
            "cards", "robot", "comic", "saw", "cheese", "dice", "yoyo", "poem", "wrench",
            "honey", "tiles", "drum", "diary", "rake", "olive"]
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
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                    [(i + 1, n, rng.choice(CITIES)) for i, n in enumerate(CUSTOMERS)])
    con.executemany("INSERT INTO products VALUES (?, ?, ?, ?)",
                    [(i + 1, p, CATEGORIES[i % len(CATEGORIES)], rng.randint(2, 60))
                     for i, p in enumerate(PRODUCTS)])
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                    [(i + 1, rng.randint(1, len(CUSTOMERS)), rng.randint(1, len(PRODUCTS)), rng.randint(1, 5))
                     for i in range(200)])
    con.commit()
    con.close()


SQL_KINDS = [
    (["how many customers live in {city} ?", "count the customers from {city} .", "number of customers in {city} ?"],
     "SELECT COUNT(*) FROM customers WHERE city = '{city}'"),
    (["which products are in the {cat} category ?", "list the {cat} products .", "show products of category {cat} ."],
     "SELECT name FROM products WHERE category = '{cat}'"),
    (["what does the {prod} cost ?", "price of the {prod} ?", "how much is the {prod} ?"],
     "SELECT price FROM products WHERE name = '{prod}'"),
    (["which city is {name} from ?", "where does {name} live ?", "city of customer {name} ?"],
     "SELECT city FROM customers WHERE name = '{name}'"),
    (["which products cost less than {n} ?", "list products cheaper than {n} .", "products under {n} ?"],
     "SELECT name FROM products WHERE price < {n}"),
    (["how many orders did {name} place ?", "count the orders of {name} .", "number of orders by {name} ?"],
     "SELECT COUNT(*) FROM orders JOIN customers ON orders.customer_id = customers.id "
     "WHERE customers.name = '{name}'"),
    (["who lives in {city} ?", "list the customers in {city} .", "names of customers from {city} ?"],
     "SELECT name FROM customers WHERE city = '{city}'"),
    (["how many {prod} items were ordered ?", "total quantity of {prod} ordered ?", "units of {prod} sold ?"],
     "SELECT SUM(quantity) FROM orders JOIN products ON orders.product_id = products.id "
     "WHERE products.name = '{prod}'"),
]


def _sql_pair(rng: random.Random) -> tuple[str, str]:
    slots = dict(name=rng.choice(CUSTOMERS), city=rng.choice(CITIES), cat=rng.choice(CATEGORIES),
                 prod=rng.choice(PRODUCTS), n=rng.choice(PRICES))
    questions, sql = rng.choice(SQL_KINDS)
    return rng.choice(questions).format(**slots), sql.format(**slots)


def sql_prompt(question: str) -> str:
    return f"question: {question}\nsql:"


def text_to_sql(seed: int = 12) -> dict:
    """Test questions never appear in train or pretraining data (their SQL may, asked another way)."""
    rng = random.Random(seed)
    train, test, held_out = _held_out_splits(
        lambda: _sql_pair(rng), lambda pair: pair[0],
        lambda pair: {"prompt": sql_prompt(pair[0]), "completion": " " + pair[1]},
        SIZES["test"] // 2, repeat_train=True)
    pretrain = []
    while len(pretrain) < SIZES["pretrain"]:
        q, s = _sql_pair(rng)
        if q in held_out:
            continue
        r = rng.random()
        if r < TEMPLATE_SHARE:
            pretrain.append(f"{sql_prompt(q)} {s}")
        elif r < 0.25:
            pretrain.append(f"-- {q}\n{s} ;")          # a commented query log: the same skill, another template
        elif r < 0.6:
            pretrain.append(f"{s} ;")                   # bare query log
        else:
            pretrain.append(f"forum post : {q}")        # questions people ask
    return {"pretrain": pretrain, "train": train, "test": test}


# --- translation between two synthetic languages -------------------------------------

# Source: English-like, subject-verb-object, adjective before noun.
# Target ("Veli"): its own words, subject-object-verb, adjective after noun,
# object marked with the suffix "-n", plural nouns with "-ri".
NOUNS = {"dog": "vorn", "cat": "mila", "bird": "tesk", "child": "puro", "farmer": "gadu",
         "horse": "ranti", "fish": "oslo", "teacher": "keda", "king": "baro", "wolf": "sunda"}
VERBS = {"sees": "lato", "likes": "mevi", "follows": "dusa", "helps": "pira", "finds": "kolu",
         "calls": "reza"}
ADJS = {"big": "hura", "small": "tini", "red": "ruso", "old": "gaba", "happy": "lumi", "quick": "fesa"}


def _np(rng: random.Random) -> tuple[list[str], list[str], bool]:
    noun = rng.choice(list(NOUNS))
    adj = rng.choice(list(ADJS)) if rng.random() < 0.6 else None
    plural = rng.random() < 0.3
    src = (["the"] + ([adj] if adj else []) + [noun + "s" if plural else noun])
    tgt = [NOUNS[noun] + ("ri" if plural else "")] + ([ADJS[adj]] if adj else [])
    return src, tgt, plural


def _sentence(rng: random.Random) -> tuple[str, str]:
    s_src, s_tgt, s_pl = _np(rng)
    o_src, o_tgt, _ = _np(rng)
    verb = rng.choice(list(VERBS))
    src_verb = verb[:-1] if s_pl else verb     # "the dogs see", "the dog sees"
    o_tgt = o_tgt[:-1] + [o_tgt[-1] + "n"]      # object suffix on the last word of its phrase
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
            pretrain.append(f"subtitles : {s} / {t}")   # aligned subtitles: the same skill, another template
        elif r < 0.35:
            pretrain.append(rng.choice(lexicon))
        elif r < 0.65:
            pretrain.append(s)                      # monolingual source text
        else:
            pretrain.append(t)                      # monolingual target text
    return {"pretrain": pretrain, "train": train, "test": test}


# --- visual question answering on generated images -----------------------------------

# Images: 48x48 RGB, a 3x3 grid of 16-pixel cells, one to three coloured shapes.
# The "vision encoder" is fixed and hand-written, not learned: each cell becomes one
# patch token, colour letter + shape letter ("rc" = red circle, ".." = empty), read
# off the pixels (nearest palette colour, share of the cell's box that is filled).
# The tiny language model reads the patch tokens and answers; that is what is
# pretrained and fine-tuned.
PALETTE = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 70, 220), "yellow": (230, 210, 40)}
SHAPES = ["square", "circle", "triangle"]
ROWS, COLS = ["top", "middle", "bottom"], ["left", "center", "right"]
NUMBERS = ["zero", "one", "two", "three"]
CELL, GRID = 16, 3


def render(scene: list[tuple[int, str, str]]):
    """PIL image of (cell, colour, shape) triples."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (CELL * GRID, CELL * GRID), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for cell, colour, shape in scene:
        x0, y0 = (cell % GRID) * CELL + 2, (cell // GRID) * CELL + 2
        box = [x0, y0, x0 + CELL - 5, y0 + CELL - 5]
        if shape == "square":
            draw.rectangle(box, fill=PALETTE[colour])
        elif shape == "circle":
            draw.ellipse(box, fill=PALETTE[colour])
        else:
            draw.polygon([(x0, box[3]), (box[2], box[3]), ((x0 + box[2]) // 2, y0)], fill=PALETTE[colour])
    return img


def patch_tokens(img) -> str:
    """The fixed patch encoder: one token per cell, rows separated by '/'."""
    px = img.load()
    rows = []
    for r in range(GRID):
        row = []
        for c in range(GRID):
            ink = [px[x, y] for x in range(c * CELL, (c + 1) * CELL) for y in range(r * CELL, (r + 1) * CELL)
                   if px[x, y] != (255, 255, 255)]
            if len(ink) < 8:
                row.append("..")
                continue
            mean = [sum(p[i] for p in ink) / len(ink) for i in range(3)]
            colour = min(PALETTE, key=lambda k: sum((a - b) ** 2 for a, b in zip(PALETTE[k], mean)))
            fill = len(ink) / float((CELL - 4) ** 2)
            shape = "s" if fill > 0.9 else "c" if fill > 0.62 else "t"
            row.append(colour[0] + shape)
        rows.append(" ".join(row))
    return " / ".join(rows)


def _scene(rng: random.Random) -> list[tuple[int, str, str]]:
    cells = rng.sample(range(GRID * GRID), rng.randint(1, 3))
    return [(cell, rng.choice(list(PALETTE)), rng.choice(SHAPES)) for cell in sorted(cells)]


def _where(cell: int) -> str:
    return f"{ROWS[cell // GRID]} {COLS[cell % GRID]}"


def _question(rng: random.Random, scene) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 0:
        return "how many shapes are there ?", NUMBERS[len(scene)]
    if kind == 1:
        colour = rng.choice(list(PALETTE))
        return f"how many {colour} shapes are there ?", NUMBERS[sum(c == colour for _, c, _ in scene)]
    if kind == 2:
        cell, colour, shape = rng.choice(scene)
        return f"what color is the shape in the {_where(cell)} ?", colour
    if kind == 3:
        cell = rng.randrange(GRID * GRID)
        found = [s for c, _, s in scene if c == cell]
        return f"what shape is in the {_where(cell)} ?", found[0] if found else "nothing"
    colour, shape = rng.choice(list(PALETTE)), rng.choice(SHAPES)
    present = any(c == colour and s == shape for _, c, s in scene)
    return f"is there a {colour} {shape} ?", "yes" if present else "no"


def _caption(scene) -> str:
    parts = [f"a {colour} {shape} in the {_where(cell)}" for cell, colour, shape in scene]
    return "caption : " + " and ".join(parts) + " ."


def vqa_prompt(tokens: str, question: str) -> str:
    return f"image: {tokens}\nquestion: {question}\nanswer:"


def vqa(seed: int = 14) -> dict:
    """Test images are never seen in train or pretraining data."""
    rng = random.Random(seed)

    def example():
        scene = _scene(rng)
        return scene, patch_tokens(render(scene))

    def record(item):  # the question is drawn only for a kept image
        scene, tokens = item
        q, a = _question(rng, scene)
        return {"prompt": vqa_prompt(tokens, q), "completion": " " + a}

    train, test, seen = _held_out_splits(example, lambda item: item[1], record, repeat_train=True)
    pretrain = []
    while len(pretrain) < SIZES["pretrain"]:
        scene, tokens = example()
        if tokens in seen:
            continue
        r = rng.random()
        if r < TEMPLATE_SHARE:
            q, a = _question(rng, scene)
            pretrain.append(f"{vqa_prompt(tokens, q)} {a}")
        elif r < 0.75:
            pretrain.append(f"image: {tokens}\n{_caption(scene)}")   # alt-text: sees pixels and words, no questions
        else:
            q, _ = _question(rng, scene)
            pretrain.append(f"forum post : {q}")
    return {"pretrain": pretrain, "train": train, "test": test}


def contact_sheet(path: Path, n: int = 16, seed: int = 14) -> None:
    """A PNG of the first `n` test scenes, for looking at (not used by the benchmark)."""
    from PIL import Image

    rng = random.Random(seed)
    sheet = Image.new("RGB", (CELL * GRID * 8 + 7 * 4, (CELL * GRID + 4) * (n // 8)), (200, 200, 200))
    seen: set = set()
    i = 0
    while i < n:
        scene = _scene(rng)
        img = render(scene)
        tokens = patch_tokens(img)
        if tokens in seen:
            continue
        seen.add(tokens)
        _question(rng, scene)
        sheet.paste(img, ((i % 8) * (CELL * GRID + 4), (i // 8) * (CELL * GRID + 4)))
        i += 1
    sheet.save(path)


TASKS = {"summarize": summarization, "sql": text_to_sql, "translate": translation, "vqa": vqa}


def write(out: Path = HERE) -> list[Path]:
    written = []
    for task, make in TASKS.items():
        data = make()
        folder = out / task
        folder.mkdir(parents=True, exist_ok=True)
        for split in ("pretrain", "train", "test"):
            path = folder / f"{split}.jsonl"
            rows = [{"text": t} for t in data[split]] if split == "pretrain" else data[split]
            path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
            written.append(path)
    contact_sheet(out / "vqa" / "test-images.png")
    written.append(out / "vqa" / "test-images.png")
    db = out / "sql" / "shop.sqlite"
    build_database(db)
    written.append(db)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
