"""Validates the tools' JSON records against docs/schema/<tool>.json with a real validator
(Debian's python3-jsonschema), the shared definitions in docs/schema/common.json resolved
by their $id."""
import glob
import json
import os
import warnings

import harness

SCHEMA_DIR = os.path.join(harness.ROOT, "docs", "schema")
_validators = {}


def _store():
    store = {}
    for path in glob.glob(os.path.join(SCHEMA_DIR, "*.json")):
        with open(path) as f:
            s = json.load(f)
        store[s["$id"]] = s
    return store


def validator(tool):
    if tool in _validators:
        return _validators[tool]
    try:
        import jsonschema
    except ImportError:
        raise harness.Skip("python3-jsonschema not installed (make deps)")
    store = _store()
    schema = next(s for i, s in store.items() if i.endswith("/" + tool + ".json"))
    jsonschema.Draft202012Validator.check_schema(schema)
    try:  # jsonschema >= 4.18
        from referencing import Registry, Resource
        registry = Registry().with_resources(
            (i, Resource.from_contents(s)) for i, s in store.items())
        v = jsonschema.Draft202012Validator(schema, registry=registry)
    except ImportError:  # Debian 12's 4.10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            resolver = jsonschema.RefResolver.from_schema(schema, store=store)
        v = jsonschema.Draft202012Validator(schema, resolver=resolver)
    _validators[tool] = v
    return v


def validate(tool, records):
    """Every record must match the tool's schema; returns the records. Pass the tool's whole
    output (json_lines(t.out), not t.json(), which leaves records out)."""
    v = validator(tool)
    # A busy host gives thousands of records: all of the first hundred, then one of each
    # shape (keys and the JSON types of their values), which is what the schema constrains
    # beyond values.
    seen = set()
    for i, r in enumerate(records):
        shape = tuple(sorted((k, type(x).__name__) for k, x in r.items()))
        if i >= 100 and shape in seen:
            continue
        seen.add(shape)
        errors = sorted(v.iter_errors(r), key=lambda e: list(e.path))
        if errors:
            best = min(errors, key=lambda e: len(list(e.absolute_schema_path)))
            raise AssertionError(f"{tool}: record does not match docs/schema/{tool}.json: "
                                 f"{best.message} at {list(best.path)}: {json.dumps(r)[:600]}")
    return records


def validate_shared(tool):
    """The records every tool may end with: counts of events not printed, and an error."""
    validate(tool, [{"lost_events": 3}, {"unread_events": 2},
                    {"error": "attaching BPF programs: Permission denied"}])
    for bad in ({"lost_events": 0}, {"error": 1}, {"lost_events": 1, "x": 2}, {"x": 1}):
        if not list(validator(tool).iter_errors(bad)):
            raise AssertionError(f"{tool}: schema accepts {bad}")
