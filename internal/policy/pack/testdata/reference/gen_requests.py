import json, random, sys
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
pack = json.load(open(sys.argv[3]))
wfs = [w['workflow_id'] for w in pack['workflow_policies']]
ns = sorted({s['namespace'] for w in pack['workflow_policies'] for s in w['tool_access']['allowed_mcp_scopes']})
phases = sorted({g['phase'] for w in pack['workflow_policies'] for g in w['gate_contract']})
kills = sorted({k for w in pack['workflow_policies'] for k in w['runtime_controls']['kill_signals']})
agents = sorted({a for w in pack['workflow_policies'] for a in w['identity']['allowed_agents']})
globs = sorted({g for w in pack['workflow_policies'] for g in w['change_scope']['allowed_paths'] + w['change_scope']['forbidden_paths']})
manual = pack['global_defaults']['manual_review_required_for']
weird = [None, "", " ", 0, 1, -1, 0.0, 2.5, True, False, [], {}, ["x"], {"a": 1}, "None", "\u00e9", "\t\x1c", "1e400"]
def pick(pool, w=0.15):
    return random.choice(weird) if random.random() < w else random.choice(pool)
def path_from_glob(g):
    p = g.replace('**/', random.choice(['', 'a/', 'a/b/'])).replace('/**', random.choice(['', '/x', '/x/y.py']))
    p = p.replace('*', random.choice(['', 'f', 'f.py', 'a/b']))
    return random.choice(['', './', '/', './/', '\\', ' ']) + p if random.random() < 0.2 else p
def paths():
    r = random.random()
    if r < 0.1: return pick(weird, 1)
    if r < 0.2: return path_from_glob(random.choice(globs))
    n = random.choice([0, 1, 1, 2, 3, 5, 9, 12])
    return [path_from_glob(random.choice(globs)) if random.random() > 0.1 else pick(weird, 1) for _ in range(n)]
def approval():
    return random.choice([None, True, False, "approved", " APPROVED ", "Accepted", '{"status":"approved"}', '{"status":"denied","decision":"approve"}',
        {"decision": "allow"}, {"status": "no"}, {"status": True}, '"true"', '"\\"approved\\""', "nope", 1, 0, [], ["approved"], "true", "NaN", "{}", '{"status":"approved","status":"no"}'])
def diff():
    return random.choice([0, 10, 120, 250, 251, 400, 100000, "12", " 7 ", "1_000", "x", 1.9, -5, True, False, None, "", "\u0661\u0662", 1e3, "+3", "3_", "-0", 99999999999999999999999])
def req():
    r = {}
    wf = random.choice(wfs)
    if random.random() < 0.93: r['workflow_id'] = pick(wfs + [" " + wf + " ", "unknown-workflow"], 0.08)
    else: wf = random.choice(wfs)
    if random.random() < 0.95:
        a = random.choice(agents + ["evil", "Claude", "GitHub-Copilot"])
        r['agent_id'] = pick([f"sr-agent::{wf}::{a}", a, f"bot-{a}-1", f"x::{a} ", "::", "sr-agent::" + a.upper(), "team/" + a], 0.08)
    if random.random() < 0.1: r['agent_class'] = pick(agents + [" Codex ", "evil"], 0.3)
    if random.random() < 0.95: r['run_id'] = pick(["r1", "run-123", " r "], 0.1)
    if random.random() < 0.95: r['tool_namespace'] = pick(ns + ["repo.admin", " repo.contents"], 0.05)
    if random.random() < 0.95: r['tool_access_mode'] = pick(["read", "write_branch", "write_ticket", "approval_required", "admin"], 0.05)
    if random.random() < 0.93: r['gate_phase'] = pick(phases + ["deploy", " tool_call"], 0.05)
    if random.random() < 0.7: r['branch_name'] = pick(["sec-auto-remediation/fix", "main", " sec-auto-remediation/x", "sec-auto-remediation"], 0.1)
    if random.random() < 0.75: r['changed_paths'] = paths()
    if random.random() < 0.7: r['diff_line_count'] = diff()
    if random.random() < 0.3: r['human_approval_record'] = approval()
    if random.random() < 0.2: r['change_class'] = pick(manual + ["docs", " database migrations"], 0.1)
    if random.random() < 0.06: r['runtime_kill_signal'] = pick(kills + ["unknown signal"], 0.2)
    if random.random() < 0.03: r['triggered_kill_signal'] = pick(kills, 0.2)
    if random.random() < 0.05: r['extra'] = pick(weird, 1)
    return r
byid = {w['workflow_id']: w for w in pack['workflow_policies']}
def coherent():
    wf = random.choice(wfs); w = byid[wf]
    sc = random.choice(w['tool_access']['allowed_mcp_scopes'])
    a = random.choice(w['identity']['allowed_agents'])
    r = {'workflow_id': wf, 'agent_id': random.choice([f"sr-agent::{wf}::{a}", a, f"{a}-bot"]), 'run_id': 'run-1',
         'tool_namespace': sc['namespace'], 'tool_access_mode': sc['access'],
         'gate_phase': random.choice(w['gate_contract'])['phase']}
    if sc['access'] == 'write_branch' or random.random() < 0.2:
        r['branch_name'] = w['dispatch']['required_branch_prefix'] + 'fix'
        cs = w['change_scope']
        n = random.randint(1, cs['max_changed_files'])
        r['changed_paths'] = [path_from_glob(random.choice(cs['allowed_paths'])) for _ in range(n)]
        r['diff_line_count'] = random.randint(0, cs['max_diff_lines'])
    # perturb
    for _ in range(random.choice([0, 0, 1, 1, 2])):
        k = random.choice(['agent_id', 'agent_class', 'gate_phase', 'branch_name', 'changed_paths', 'diff_line_count',
                           'human_approval_record', 'change_class', 'runtime_kill_signal', 'tool_access_mode', 'run_id', 'forbidden'])
        if k == 'forbidden':
            r.setdefault('changed_paths', []); r['changed_paths'] = (r['changed_paths'] if isinstance(r['changed_paths'], list) else []) + [path_from_glob(random.choice(w['change_scope']['forbidden_paths']))]
        elif k == 'human_approval_record': r[k] = approval()
        elif k == 'change_class': r[k] = pick(manual + ['docs'], 0.1)
        elif k == 'runtime_kill_signal': r[k] = pick(w['runtime_controls']['kill_signals'] + ['other'], 0.1)
        elif k == 'diff_line_count': r[k] = diff()
        elif k == 'changed_paths': r[k] = paths()
        elif k == 'agent_class': r[k] = pick(agents + ['evil'], 0.2)
        else: r[k] = req().get(k, pick(weird, 1))
    return r
for _ in range(int(sys.argv[1])):
    print(json.dumps(coherent() if random.random() < 0.6 else req()))
