"""Validates runbooks against relctl's JSON Schema with an independent
validator (python-jsonschema, Draft 2020-12), the way an editor would.

usage: schema_check.py SCHEMA RUNBOOK...
prints one line per runbook: PATH<TAB>valid, or PATH<TAB>invalid<TAB>reason

The YAML is read as YAML 1.2's core schema, as relctl (serde-saphyr) and
yaml-language-server read it: PyYAML's default is YAML 1.1, where `09:00`
is the integer 540, `2026-12-21` a date and `on`/`yes` booleans.
"""
import json
import re
import sys

import jsonschema
import yaml


class Core12Loader(yaml.SafeLoader):
    pass


# Drop YAML 1.1's implicit types, then add YAML 1.2 core's
# (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
Core12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text)


Core12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sys.argv[2:]:
        with open(path) as f:
            try:
                doc = yaml.load(f, Loader=Core12Loader)
            except yaml.YAMLError as e:
                print(f"{path}\tinvalid\tnot YAML: {str(e).splitlines()[0]}")
                continue
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is None:
            print(f"{path}\tvalid")
        else:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{path}\tinvalid\t{where}: {error.message}"[:400].replace("\n", " "))


if __name__ == "__main__":
    main()
