# Benign analysis cells, the kind of code a model writes over a trace.
# Each cell starts with a line "# %% <name>" and runs on its own in a fresh namespace
# holding `traces` (tests/policy_corpus/traces.json) and `ask_llm` (a deterministic stub).
# Expected outputs come from plain CPython (record.py). Never edit a cell to make the
# policy pass: a cell the policy rejects is a finding, not a cell to fix.

# %% overview_counts
print(len(traces), "traces")
for i, t in enumerate(traces):
    print(i, len(t["history"]), "steps", t["question"][:60].replace("\n", " "))

# %% roles_and_names
for t in traces:
    seen = []
    for step in t["history"]:
        who = step.get("name") or step["role"]
        if who not in seen:
            seen.append(who)
    print(seen)

# %% count_by_agent_augmented
counts = {}
for t in traces:
    for step in t["history"]:
        k = step.get("name") or step["role"]
        if k not in counts:
            counts[k] = 0
        counts[k] += 1
for k in sorted(counts):
    print(f"{k:45s} {counts[k]:3d}")

# %% counter_most_common
from collections import Counter
c = Counter(step["role"] for t in traces for step in t["history"])
print(c.most_common(3))
print(sum(c.values()))

# %% defaultdict_grouping
from collections import defaultdict
by_role = defaultdict(list)
for ti, t in enumerate(traces):
    for si, step in enumerate(t["history"]):
        by_role[step["role"]].append((ti, si))
for role, where in sorted(by_role.items()):
    print(role, len(where), where[:3])

# %% search_keyword
needle = "terminate"
hits = []
for ti, t in enumerate(traces):
    for si, step in enumerate(t["history"]):
        if needle in step["content"].lower():
            hits.append((ti, si))
print(hits)

# %% regex_findall_numbers
import re
nums = re.findall(r"\b\d+(?:\.\d+)?\b", traces[0]["history"][1]["content"])
print(nums[:20])
print(len(nums))

# %% regex_compiled_flags
import re
pat = re.compile(r"^#+\s*(.+)$", re.MULTILINE)
for t in traces[:2]:
    heads = pat.findall(t["history"][0]["content"])
    print(heads)

# %% regex_sub_callback
import re

def shout(m):
    return m.group(0).upper()

text = traces[1]["history"][1]["content"][:200]
print(re.sub(r"\bbond\b", shout, text, flags=re.IGNORECASE))

# %% regex_named_groups
import re
rx = re.compile(r"(?P<agent>[A-Za-z_]+)_Expert")
found = sorted({m.group("agent") for t in traces for s in t["history"] for m in rx.finditer(s["content"])})
print(found)

# %% json_ledger_walk
import json

def ledgers(trace):
    for i, step in enumerate(trace["history"]):
        body = step["content"]
        if body.startswith("Updated Ledger:"):
            yield i, json.loads(body[len("Updated Ledger:"):])

for i, led in ledgers(traces[2]):
    print(i, led["next_speaker"]["answer"], led["is_progress_being_made"]["answer"])

# %% json_walk_recursive
import json

def walk(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, path + (i,))
    else:
        yield path, obj

leaves = list(walk(traces[1]))
print(len(leaves))
for path, value in leaves[:5]:
    print("/".join(str(p) for p in path), "=", repr(value)[:40])

# %% json_dumps_pretty
import json
summary = {"n": len(traces), "levels": [t["level"] for t in traces], "ok": True}
print(json.dumps(summary, indent=2, sort_keys=True))

# %% window_around_step
def window(trace, idx, before=1, after=1):
    h = trace["history"]
    lo, hi = max(0, idx - before), min(len(h), idx + after + 1)
    return [(j, h[j].get("name") or h[j]["role"], h[j]["content"][:50]) for j in range(lo, hi)]

for row in window(traces[1], 2):
    print(row)

# %% difflib_ratio
import difflib
a = traces[0]["history"][2]["content"]
b = traces[0]["history"][3]["content"]
sm = difflib.SequenceMatcher(None, a, b)
print(round(sm.ratio(), 3))
print(sm.find_longest_match(0, len(a), 0, len(b)).size)

# %% difflib_unified
import difflib
a = traces[0]["history"][2]["content"].split(". ")
b = traces[0]["history"][3]["content"].split(". ")
for line in difflib.unified_diff(a, b, fromfile="step2", tofile="step3", lineterm=""):
    print(line[:80])

# %% difflib_close_matches
import difflib
names = sorted({s.get("name") or s["role"] for t in traces for s in t["history"]})
print(difflib.get_close_matches("FilmCritic", names, n=2, cutoff=0.3))

# %% class_with_dunders
class Step:
    def __init__(self, index, who, text):
        self.index = index
        self.who = who
        self.text = text

    def __repr__(self):
        return f"Step({self.index}, {self.who!r}, {len(self.text)} chars)"

    def __len__(self):
        return len(self.text)

steps = [Step(i, s.get("name") or s["role"], s["content"]) for i, s in enumerate(traces[1]["history"])]
print(steps[:3])
print(sum(len(s) for s in steps))

# %% class_eq_lt_sorting
class Score:
    def __init__(self, name, value):
        self.name = name
        self.value = value

    def __eq__(self, other):
        return self.value == other.value

    def __lt__(self, other):
        return self.value < other.value

    def __repr__(self):
        return f"<{self.name}:{self.value}>"

scores = [Score(s["role"], len(s["content"])) for s in traces[1]["history"]]
print(sorted(scores))
print(max(scores), min(scores))

# %% class_own_attribute_augmented
class Tally:
    def __init__(self):
        self.total = 0
        self.calls = 0

    def add(self, n):
        self.total += n
        self.calls += 1
        return self

t = Tally()
for s in traces[2]["history"]:
    t.add(len(s["content"]))
print(t.total, t.calls, round(t.total / t.calls, 1))

# %% class_iter_contains
class Transcript:
    def __init__(self, trace):
        self.steps = trace["history"]

    def __iter__(self):
        return iter(self.steps)

    def __contains__(self, word):
        return any(word in s["content"] for s in self.steps)

    def __getitem__(self, i):
        return self.steps[i]

tr = Transcript(traces[1])
print("Goldfinger" in tr, "zeppelin" in tr)
print(tr[0]["role"], len(list(tr)))

# %% type_name
values = [1, 2.5, "x", None, [1], {"a": 1}, (1,), True]
print([type(v).__name__ for v in values])

# %% type_name_of_fields
t = traces[0]
for k in sorted(t):
    print(k, type(t[k]).__name__)

# %% closure_nonlocal
def make_counter():
    count = 0

    def bump(n=1):
        nonlocal count
        count += n
        return count

    return bump

bump = make_counter()
for s in traces[0]["history"]:
    bump()
print(bump(0), bump(10))

# %% generator_function
def long_steps(trace, min_len):
    for i, s in enumerate(trace["history"]):
        if len(s["content"]) >= min_len:
            yield i, len(s["content"])

print(list(long_steps(traces[2], 2000)))
g = long_steps(traces[0], 100)
print(next(g))

# %% generator_expression_sum
total = sum(len(s["content"]) for t in traces for s in t["history"])
longest = max((len(s["content"]), s["role"]) for t in traces for s in t["history"])
print(total, longest)

# %% fstring_format_specs
for t in traces:
    n = len(t["history"])
    avg = sum(len(s["content"]) for s in t["history"]) / n
    print(f"{t['level']:>3} | {n:04d} | {avg:10.2f} | {avg:.1e} | {n/10:.0%}")

# %% str_format_method
row = "{:<12}|{:>8.2f}|{:^7}"
for t in traces:
    print(row.format(t["question_ID"][:12], len(t["question"]) / 3, t["level"]))
print("{0}-{1}-{0}".format("a", "b"))
print("{name} has {n} steps".format(name="trace0", n=len(traces[0]["history"])))

# %% str_format_map_and_percent
info = {"q": traces[1]["question"][:30], "n": len(traces[1]["history"])}
print("{q}... ({n})".format_map(info))
print("%s has %d steps (%.1f%%)" % ("t1", info["n"], 12.345))
print("%(n)03d" % info)

# %% comprehensions_all_kinds
lens = [len(s["content"]) for s in traces[1]["history"]]
by_role = {s["role"]: len(s["content"]) for s in traces[1]["history"]}
roles = {s["role"] for s in traces[1]["history"]}
print(lens)
print(sorted(by_role.items()))
print(sorted(roles))
print([x for x in lens if x > 300 if x < 1000])

# %% sorted_with_key
steps = [(i, s.get("name") or s["role"], len(s["content"])) for i, s in enumerate(traces[2]["history"])]
for row in sorted(steps, key=lambda r: (-r[2], r[0]))[:5]:
    print(row)

# %% sorted_itemgetter
from operator import itemgetter
rows = [{"i": i, "n": len(s["content"])} for i, s in enumerate(traces[0]["history"])]
print([r["i"] for r in sorted(rows, key=itemgetter("n"), reverse=True)])

# %% attrgetter_on_own_objects
from operator import attrgetter

class Item:
    def __init__(self, name, size):
        self.name = name
        self.size = size

items = [Item(s["role"], len(s["content"])) for s in traces[1]["history"]]
print([i.name for i in sorted(items, key=attrgetter("size"))])

# %% try_except_keyerror
missing = 0
for t in traces:
    for s in t["history"]:
        try:
            s["name"]
        except KeyError:
            missing += 1
print("steps without name:", missing)

# %% try_except_json_error
import json
bad = 0
good = 0
for t in traces:
    for s in t["history"]:
        try:
            json.loads(s["content"])
            good += 1
        except json.JSONDecodeError as e:
            bad += 1
            last = e.msg
print(good, bad, last)

# %% try_finally_else
def safe_div(a, b):
    try:
        r = a / b
    except ZeroDivisionError as exc:
        return f"error: {exc}"
    else:
        return r
    finally:
        pass

print(safe_div(10, 4), safe_div(1, 0))

# %% underscore_locals
_tmp = [len(s["content"]) for s in traces[0]["history"]]
_max = max(_tmp)
__private = _max * 2
print(_tmp.index(_max), _max, __private)
for _ in range(2):
    print("tick")

# %% walrus
import re
for s in traces[1]["history"]:
    if (m := re.search(r"\b(gold|golden|orange|white)\b", s["content"], re.I)):
        print(s["role"], m.group(1))

# %% walrus_in_comprehension
import re
found = [w for s in traces[0]["history"] if (w := re.findall(r"\d{2,}", s["content"]))]
print(found)

# %% itertools_groupby
from itertools import groupby
h = traces[2]["history"]
runs = [(k, len(list(g))) for k, g in groupby(s["role"] for s in h)]
print(runs)

# %% itertools_pairwise_chain
from itertools import pairwise, chain, islice
h = traces[1]["history"]
for a, b in pairwise(h):
    print(a["role"], "->", b["role"])
print(list(islice(chain.from_iterable(t["history"] for t in traces), 2, 4))[0]["role"])

# %% itertools_combinations_product
from itertools import combinations, product, accumulate
print(list(combinations("ABC", 2)))
print(len(list(product(range(3), repeat=2))))
print(list(accumulate([len(s["content"]) for s in traces[0]["history"]])))

# %% statistics
import statistics
lens = [len(s["content"]) for t in traces for s in t["history"]]
print(statistics.mean(lens) > 0, statistics.median(lens), round(statistics.pstdev(lens), 2))
print(statistics.quantiles(lens, n=4))

# %% math_module
import math
lens = [len(s["content"]) for s in traces[2]["history"]]
print(math.floor(math.log2(max(lens))), math.ceil(math.sqrt(sum(lens))), math.isclose(0.1 + 0.2, 0.3))
print(math.fsum([0.1] * 10), math.prod([1, 2, 3, 4]), math.inf > 10**100)

# %% datetime_parsing
from datetime import datetime, timedelta, date
d = datetime.strptime("2020-03-15 12:30", "%Y-%m-%d %H:%M")
print(d.isoformat(), (d + timedelta(days=10)).strftime("%a %d %b"))
print(date(2020, 1, 1).weekday(), (date(2020, 12, 31) - date(2020, 1, 1)).days)

# %% textwrap_usage
import textwrap
body = traces[1]["history"][1]["content"]
print(textwrap.shorten(body, width=70, placeholder=" [...]"))
for line in textwrap.wrap(body, width=60)[:3]:
    print(">", line)
print(textwrap.indent("a\nb", "  | "))
print(textwrap.dedent("""
    x = 1
    y = 2
""").strip())

# %% textwrap_wrapper_object
import textwrap
w = textwrap.TextWrapper(width=40, initial_indent="* ", subsequent_indent="  ")
w.width = 50
print(w.fill(traces[1]["history"][2]["content"][:150]))

# %% heapq_topk
import heapq
lens = [(len(s["content"]), i) for i, s in enumerate(traces[2]["history"])]
print(heapq.nlargest(3, lens))
print(heapq.nsmallest(2, lens, key=lambda x: x[0]))
h = []
for x in [5, 1, 4]:
    heapq.heappush(h, x)
print(heapq.heappop(h), h)

# %% bisect_buckets
import bisect
edges = [100, 500, 1000, 3000]
labels = ["tiny", "short", "medium", "long", "huge"]
for s in traces[2]["history"][:8]:
    print(labels[bisect.bisect(edges, len(s["content"]))], len(s["content"]))

# %% functools_reduce_partial_cache
from functools import reduce, partial, lru_cache
print(reduce(lambda a, b: a + b, [len(s["content"]) for s in traces[0]["history"]]))
cut = partial(str.split, sep=" ", maxsplit=3)
print(cut(traces[0]["question"])[:3])

@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

print(fib(60), fib.cache_info().hits > 0)

# %% string_module
import string
text = traces[1]["question"]
print(sum(ch in string.punctuation for ch in text), string.ascii_lowercase[:5])
tmpl = string.Template("Trace $tid has $n steps")
print(tmpl.substitute(tid="t1", n=len(traces[1]["history"])))
print(string.capwords("hello world of agents"))

# %% namedtuple_usage
from collections import namedtuple
Row = namedtuple("Row", "index role size")
rows = [Row(i, s["role"], len(s["content"])) for i, s in enumerate(traces[1]["history"])]
print(rows[0])
print(max(rows, key=lambda r: r.size).index)
print(rows[1]._asdict())
print(rows[2]._replace(size=0))

# %% deque_window
from collections import deque
last = deque(maxlen=3)
for s in traces[2]["history"]:
    last.append(s["role"])
print(list(last))

# %% ordereddict_chainmap
from collections import OrderedDict, ChainMap
od = OrderedDict()
for s in traces[2]["history"]:
    od.setdefault(s["role"], 0)
    od[s["role"]] += 1
od.move_to_end("WebSurfer")
print(list(od.items()))
cm = ChainMap({"a": 1}, {"a": 2, "b": 3})
print(cm["a"], cm["b"], len(cm))

# %% dict_methods
d = {}
for s in traces[0]["history"]:
    d.setdefault(s["name"], []).append(len(s["content"]))
d.update(extra=[0])
print({k: sum(v) for k, v in d.items()})
print(d.get("missing", "n/a"), list(d.keys()), d.pop("extra"))

# %% list_methods_slicing
h = traces[2]["history"]
roles = [s["role"] for s in h]
print(roles[::3], roles[-2:], roles[1:4])
roles.reverse()
print(roles.count("WebSurfer"), roles.index("human"))
roles.sort(key=len)
print(roles[0])

# %% string_methods
q = traces[0]["question"]
print(q.split()[:4], q.strip().endswith("."), q.count("number"))
print(q.lower().replace("number", "NUM")[:60])
print("|".join(w.capitalize() for w in "agent trace reflection".split()))
print(q.partition(":")[0], q.find("Babylonian"), "abc".zfill(6), "x".center(5, "-"))

# %% unpacking_and_star
first, *middle, last = [s["role"] for s in traces[1]["history"]]
print(first, len(middle), last)
(a, b), c = (1, 2), 3
print(a, b, c)
for i, (role, content) in enumerate((s["role"], s["content"]) for s in traces[0]["history"][:2]):
    print(i, role, len(content))

# %% zip_enumerate_reversed
h = traces[1]["history"]
for (i, s), t in zip(enumerate(h), reversed(h)):
    print(i, s["role"][:4], t["role"][:4])
print(dict(zip("abc", range(3))))

# %% map_filter
lens = list(map(lambda s: len(s["content"]), traces[2]["history"]))
print(list(filter(lambda n: n < 100, lens)))
print(list(map(str.upper, ["a", "b"])))

# %% any_all_minmax
h = traces[2]["history"]
print(any("flag" in s["content"] for s in h), all(s["content"] for s in h))
print(min(h, key=lambda s: len(s["content"]))["role"])
print(max(range(10), key=lambda x: (x % 3, x)))

# %% set_operations
r1 = {s["role"] for s in traces[1]["history"]}
r2 = {s["role"] for s in traces[2]["history"]}
print(sorted(r1 | r2), sorted(r1 & r2), sorted(r1 - r2), len(r1 ^ r2))

# %% while_loop_scan
h = traces[2]["history"]
i = 0
while i < len(h) and h[i]["role"] != "WebSurfer":
    i += 1
print("first WebSurfer at", i)
j = len(h) - 1
while j >= 0:
    if "Orchestrator" in h[j]["role"]:
        break
    j -= 1
print("last orchestrator at", j)

# %% large_range
total = 0
for n in range(100000):
    total += n % 7
print(total, len(range(0, 10**9, 3)))

# %% nested_functions_default_args
def make_filter(word, case=False):
    def f(step):
        text = step["content"] if case else step["content"].lower()
        return word in text
    return f

has_plan = make_filter("plan")
print([i for i, s in enumerate(traces[2]["history"]) if has_plan(s)])

# %% recursion
def depth(obj):
    if isinstance(obj, dict):
        return 1 + max((depth(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((depth(v) for v in obj), default=0)
    return 0

print([depth(t) for t in traces])

# %% ask_llm_stub
answer = ask_llm("Which agent made the first mistake?", context=traces[1]["history"][2]["content"][:200])
print(answer)
print(ask_llm("Summarise step 0").split(":")[0])

# %% class_with_classmethod_staticmethod_property
class Trace:
    def __init__(self, data):
        self.data = data

    @classmethod
    def from_index(cls, i):
        return cls(traces[i])

    @staticmethod
    def clean(text):
        return " ".join(text.split())

    @property
    def size(self):
        return len(self.data["history"])

tr = Trace.from_index(2)
print(tr.size, Trace.clean("  a \n b  "))

# %% class_inheritance_super
class Base:
    def __init__(self, name):
        self.name = name

    def describe(self):
        return f"{type(self).__name__}({self.name})"

class Agent(Base):
    def __init__(self, name, steps):
        super().__init__(name)
        self.steps = steps

    def describe(self):
        return super().describe() + f" with {self.steps} steps"

c = {}
for s in traces[1]["history"]:
    c[s["role"]] = c.get(s["role"], 0) + 1
print([Agent(k, v).describe() for k, v in sorted(c.items())])

# %% class_str_and_format
class Pct:
    def __init__(self, x):
        self.x = x

    def __str__(self):
        return f"{self.x:.1%}"

    def __format__(self, spec):
        return format(self.x * 100, spec) + "pct"

p = Pct(0.4567)
print(str(p), f"{p:.2f}", "{:.0f}".format(p))

# %% exception_class_custom
class TraceError(Exception):
    pass

def check(trace):
    if "history" not in trace:
        raise TraceError("no history")
    return len(trace["history"])

try:
    check({})
except TraceError as e:
    print("caught:", e, type(e).__name__)
print(check(traces[0]))

# %% raise_and_reraise
def parse_level(x):
    try:
        return int(x)
    except ValueError as e:
        raise RuntimeError(f"bad level {x!r}") from e

print([parse_level(t["level"]) for t in traces])
try:
    parse_level("two")
except RuntimeError as e:
    print(e)

# %% assert_and_isinstance
for t in traces:
    assert isinstance(t["history"], list), "history must be a list"
    assert all(isinstance(s["content"], str) for s in t["history"])
print("schema ok", isinstance(traces[0], dict), issubclass(bool, int))

# %% string_join_build_report
lines = []
for ti, t in enumerate(traces):
    lines.append(f"## trace {ti}")
    for si, s in enumerate(t["history"][:3]):
        who = s.get("name", s["role"])
        lines.append(f"- [{si}] {who}: {s['content'][:40]!r}")
report = "\n".join(lines)
print(report)
print(len(report.splitlines()))

# %% repr_ascii_ord_chr
q = traces[0]["question"]
print(ascii(q[33:40]), [hex(ord(ch)) for ch in q[33:36]])
print(chr(65), ord("a"), repr("tab\t"), bin(10), oct(8), abs(-3), divmod(17, 5), pow(2, 10))

# %% numbers_rounding
vals = [len(s["content"]) / 7 for s in traces[1]["history"]]
print([round(v, 2) for v in vals])
print(round(sum(vals)), int("42"), float("1.5e3"), complex(1, 2).real)

# %% bytes_and_encoding
b = traces[0]["question"].encode("utf-8")
print(len(b), b[:10], b.decode("utf-8")[:10])
print(bytes([104, 105]), bytearray(b"ab").hex())

# %% dict_of_lists_json_roundtrip
import json
index = {}
for ti, t in enumerate(traces):
    for si, s in enumerate(t["history"]):
        for word in set(s["content"].lower().split()):
            if word in ("terminate", "plan", "verify"):
                index.setdefault(word, []).append([ti, si])
back = json.loads(json.dumps(index))
print(back == index, sorted(back))
print({k: len(v) for k, v in sorted(back.items())})

# %% nested_generator_pipeline
def steps_of(ts):
    for t in ts:
        yield from t["history"]

def contents(steps):
    return (s["content"] for s in steps)

def words(texts):
    for text in texts:
        yield from text.split()

print(sum(1 for _ in words(contents(steps_of(traces)))))

# %% lambda_sort_multiple
data = [(s.get("name") or s["role"], len(s["content"])) for t in traces for s in t["history"]]
data.sort(key=lambda x: x[1])
data.sort(key=lambda x: x[0])
print(data[:4])

# %% global_statement
seen_total = 0

def note(n):
    global seen_total
    seen_total += n

for t in traces:
    note(len(t["history"]))
print(seen_total)

# %% class_attribute_counter
class Registry:
    instances = 0

    def __init__(self, name):
        self.name = name
        Registry.instances += 1

regs = [Registry(t["question_ID"]) for t in traces]
print(Registry.instances, regs[0].name[:8])

# %% dunder_name_reads
def helper():
    """Return nothing."""

print(helper.__name__, helper.__doc__, len.__name__)
print(type(traces).__name__, type(helper).__name__)

# %% step_diff_consecutive
import difflib
h = traces[2]["history"]
ledgers = [s["content"] for s in h if s["content"].startswith("Updated Ledger")]
for a, b in zip(ledgers, ledgers[1:]):
    changed = [l for l in difflib.ndiff(a.splitlines(), b.splitlines()) if l.startswith(("+ ", "- "))]
    print(len(changed))

# %% keyword_in_context
import re

def kwic(text, word, width=25):
    out = []
    for m in re.finditer(re.escape(word), text, re.IGNORECASE):
        lo, hi = max(0, m.start() - width), m.end() + width
        out.append(text[lo:hi].replace("\n", " "))
    return out

for snippet in kwic(traces[2]["history"][1]["content"], "flag")[:4]:
    print("...", snippet, "...")

# %% first_mention_of_answer
import re
for ti, t in enumerate(traces):
    gt = str(t["ground_truth"])
    first = next((i for i, s in enumerate(t["history"]) if gt.lower() in s["content"].lower()), None)
    print(ti, gt[:20], first)

# %% slice_objects_and_negative_index
h = traces[2]["history"]
middle = slice(2, 6, 2)
print([s["role"] for s in h[middle]], h[-1]["role"], h[-2]["content"][:20])

# %% chained_comparisons_ternary
for s in traces[1]["history"]:
    n = len(s["content"])
    size = "small" if n < 300 else "medium" if 300 <= n < 500 else "large"
    print(n, size)

# %% string_predicates
toks = "Step 3 : DDC633 ok 2020 ".split()
print([(t, t.isdigit(), t.isalpha(), t.isalnum(), t.isupper()) for t in toks])

# %% dict_comprehension_invert
roles = {i: s["role"] for i, s in enumerate(traces[1]["history"])}
inverted = {}
for k, v in roles.items():
    inverted.setdefault(v, []).append(k)
print(inverted)

# %% counter_arithmetic
from collections import Counter
a = Counter(traces[1]["history"][1]["content"].lower().split())
b = Counter(traces[1]["history"][2]["content"].lower().split())
common = a & b
print(sorted(common.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
print((a - b).total() > 0)

# %% iter_next_sentinel
it = iter([s["role"] for s in traces[1]["history"]])
print(next(it), next(it))
print(list(it)[-1], next(iter([]), "empty"))

# %% enumerate_start_and_str_multiply
for n, s in enumerate(traces[0]["history"][:3], start=1):
    print(f"{n}." + " " * 2 + "#" * min(20, len(s["content"]) // 100))

# %% hash_and_frozenset
keys = frozenset(s["role"] for s in traces[1]["history"])
print(len(keys), "user" in keys, hash(keys) == hash(frozenset(keys)))

# %% local_underscore_function_and_class
def _norm(text):
    return " ".join(text.lower().split())

class _Cache:
    def __init__(self):
        self.data = {}

_c = _Cache()
for s in traces[1]["history"]:
    _c.data[_norm(s["content"])[:10]] = s["role"]
print(sorted(_c.data.items())[:3])

# %% object_sentinel
MISSING = object()
d = {"a": None}
print(d.get("a", MISSING) is MISSING, d.get("b", MISSING) is MISSING)

# %% nested_data_collect_urls
import re
urls = set()
for t in traces:
    for s in t["history"]:
        urls.update(re.findall(r"https?://[^\s)\]]+", s["content"]))
print(len(urls))
print(sorted(urls)[:3])

# %% in_place_list_item_ops
sizes = [0] * len(traces)
for i, t in enumerate(traces):
    for s in t["history"]:
        sizes[i] += len(s["content"])
    sizes[i] //= 10
print(sizes)
grid = [[0, 0], [0, 0]]
grid[1][0] += 5
grid[0][1] -= 2
print(grid)

# %% dict_item_string_concat
notes = {"t0": "", "t1": ""}
notes["t0"] += "checked;"
notes["t0"] += "ok"
notes["t1"] += traces[1]["history"][-1]["content"]
print(notes)

# %% setattr_getattr_builtin
class Box:
    pass

b = Box()
setattr(b, "size", 3)
print(getattr(b, "size"), getattr(b, "missing", "default"), hasattr(b, "size"))
for field in ("role", "content"):
    print(field, len(getattr(traces[1]["history"][0]["content"], "strip")()))

# %% print_kwargs
print("a", "b", sep="-", end="!\n")
print(*[s["role"] for s in traces[1]["history"]], sep=", ")
print()
print("done", flush=True)

# %% summary_table
import statistics
print(f"{'trace':<6}{'steps':>6}{'chars':>8}{'median':>8}")
for i, t in enumerate(traces):
    lens = [len(s["content"]) for s in t["history"]]
    print(f"{i:<6}{len(lens):>6}{sum(lens):>8}{statistics.median(lens):>8.1f}")

# %% final_dict_build
result = {
    "agent": traces[1]["history"][2].get("name"),
    "step": 2,
    "evidence": traces[1]["history"][2]["content"][:60],
}
import json
print(json.dumps(result, sort_keys=True))
