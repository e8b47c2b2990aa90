"""Validation of written reports against docs/report.schema.json (the schema attnspec generates from its field
lists), with an independent validator: the jsonschema package."""
import json
import os

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "report.schema.json")


def validate(report):
    """Raises jsonschema.ValidationError naming the first place where `report` (a parsed report.json: one report
    or {"runs": [...]}) departs from the schema; the whole document is also checked against the top level."""
    schema = json.load(open(SCHEMA_PATH))
    jsonschema.Draft202012Validator.check_schema(schema)
    one_report = jsonschema.Draft202012Validator(schema["$defs"]["report"])
    for index, run in enumerate(report["runs"] if "runs" in report else [report]):
        error = jsonschema.exceptions.best_match(one_report.iter_errors(run))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            raise jsonschema.ValidationError(f"run {index}, at /{where}: {error.message[:300]}")
    jsonschema.Draft202012Validator(schema).validate(report)
