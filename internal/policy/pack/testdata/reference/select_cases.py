import json, random, sys, collections
random.seed(5)
scale = float(sys.argv[1]); src = sys.argv[2:]
caps = {'deny': 110, 'allow': 25, 'allow_scoped_branch': 25, 'allow_scoped_ticket': 12, 'hold_for_approval': 20, 'kill_session': 10, 'error': 5}
rows = [json.loads(l) for f in src for l in open(f)]
random.shuffle(rows)
seen = set(); count = collections.Counter(); picked = []
def key(o):
    if 'doc' not in o: return 'error', ('error', o['error'][:30])
    d = o['doc']
    return d['decision'], (d['decision'], d['reason'], frozenset(" ".join(v.split()[:2]) for v in d['violations']), d['approval_present'], d['approval_required'], d['request']['tool_access_mode'] if isinstance(d['request']['tool_access_mode'], str) else '?')
for o in rows:
    dec, sig = key(o)
    if sig not in seen and count[dec] < caps[dec] * scale:
        seen.add(sig); count[dec] += 1; picked.append(o)
ids = {id(o) for o in picked}
for o in rows:
    dec, sig = key(o)
    if id(o) not in ids and count[dec] < caps[dec] * scale:
        count[dec] += 1; picked.append(o); ids.add(id(o))
for o in picked:
    out = {"request": o["request"]}
    if 'doc' in o: out["doc"] = o["doc"]
    else: out["error"] = o["error"]
    print(json.dumps(out, sort_keys=True, separators=(",", ":")))
print(dict(count), len(picked), file=sys.stderr)
