"""The function tests/e2e/terraform/compute.tf deploys: echoes what it was given."""

import json


def handler(event, context):
    records = event.get("Records", []) if isinstance(event, dict) else []
    print(json.dumps({"records": len(records)}))
    return {"ok": True, "records": len(records)}
