import json, os, sys
sys.path.insert(0, os.environ['EVALUATOR_DIR'])
import evaluate as ev
pack = json.load(open(sys.argv[1]))
for line in sys.stdin:
    r = json.loads(line)
    try:
        out = {"doc": ev.evaluate_policy_decision(pack, r)}
    except Exception as e:
        out = {"error": type(e).__name__ + ": " + str(e)}
    print(json.dumps({"request": r, **out}, sort_keys=True))
