#!/usr/bin/env python3
"""Turn a Meson testlog.json into 'pass NAME' / 'fail NAME' lines."""
import json
import sys

path, prefix = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            res = t.get("result", "")
            ok = res in ("OK", "EXPECTEDFAIL", "SKIP")
            print(("pass " if ok else "fail ") + prefix + t["name"])
except FileNotFoundError:
    print("fail " + prefix + "no-test-log")
