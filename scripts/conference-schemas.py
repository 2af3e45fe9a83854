#!/usr/bin/env python3
"""Writes tests/telnyx/conference-requests.json: the Conference API request schemas of
../shared/telnyx/openapi-spec3.yml (components/schemas, $refs resolved), which the tests validate
the conference commands against. Needs PyYAML (pip install pyyaml); run from the repository root."""
import json, sys
import yaml

spec = yaml.safe_load(open(sys.argv[1] if len(sys.argv) > 1 else "../shared/telnyx/openapi-spec3.yml"))
schemas = spec["components"]["schemas"]
names = {
    "conference_create": "CreateConferenceRequest", "conference_join": "JoinConferenceRequest",
    "conference_leave": "LeaveConferenceRequest", "conference_mute": "ConferenceMuteRequest",
    "conference_unmute": "ConferenceUnmuteRequest", "conference_hold": "ConferenceHoldRequest",
    "conference_unhold": "ConferenceUnholdRequest", "conference_speak": "ConferenceSpeakRequest",
    "conference_play": "ConferencePlayRequest", "conference_update": "UpdateConferenceRequest",
}

def resolve(x, depth=0):
    if isinstance(x, dict):
        if "$ref" in x and depth < 8:
            return resolve(schemas[x["$ref"].split("/")[-1]], depth + 1)
        return {k: resolve(v, depth) for k, v in x.items() if k not in ("example", "examples")}
    if isinstance(x, list):
        return [resolve(v, depth) for v in x]
    return x

out = {action: resolve(schemas[name]) for action, name in names.items()}
doc = {"source": "openapi-spec3.yml components/schemas, $refs resolved (scripts/conference-schemas.py)", "schemas": out}
json.dump(doc, open("tests/telnyx/conference-requests.json", "w"), indent=1, sort_keys=True)
