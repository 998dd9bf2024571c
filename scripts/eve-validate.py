#!/usr/bin/env python3
"""Validate EVE NDJSON against Suricata's own schema (../shared/suricata/schema.json).

Usage: eve-validate.py SCHEMA [--strict] FILE.ndjson...   ('-' reads standard input)

By default the schema is relaxed the way a SIEM reads it: every field Suricata defines must
have Suricata's name, place and type, and fields of our own are additions
(`additionalProperties: false` becomes true). --strict validates as published.
Prints one line per distinct error (path, message, count, first line) and a closing
'N events, M invalid' line; exit status 1 when any event is invalid, 2 on bad usage.
"""
import json
import sys
from collections import Counter

try:
    import jsonschema
except ImportError:
    print("eve-validate: python3 module jsonschema missing (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)


def relax(node):
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            node["additionalProperties"] = True
        for value in node.values():
            relax(value)
    elif isinstance(node, list):
        for value in node:
            relax(value)


def main(argv):
    args = [a for a in argv if a != "--strict"]
    strict = len(args) != len(argv)
    if len(args) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(args[0]) as f:
        schema = json.load(f)
    if not strict:
        relax(schema)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema)
    errors = Counter()
    first = {}
    events = invalid = 0
    for name in args[1:]:
        stream = sys.stdin if name == "-" else open(name)
        for number, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            events += 1
            try:
                event = json.loads(line)
            except ValueError as e:
                errors[("(line)", "not JSON: %s" % e)] += 1
                invalid += 1
                continue
            bad = False
            for error in validator.iter_errors(event):
                bad = True
                path = "/".join(str(p) if not isinstance(p, int) else "[]" for p in error.absolute_path)
                key = (event.get("event_type", "?") + ":" + path, error.message[:160])
                errors[key] += 1
                first.setdefault(key, "%s:%d" % (name, number))
            invalid += bad
    for (path, message), count in sorted(errors.items()):
        print("%s: %s (%d events, first %s)" % (path, message, count, first.get((path, message), "?")))
    print("%d events, %d invalid" % (events, invalid))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
