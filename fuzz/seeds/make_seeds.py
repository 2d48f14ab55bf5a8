#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*, from the
repository's real inputs: the reference plans, the sample events, the evidence files, the
scenarios and the recorded incident. The seeds are checked in; run this (with PyYAML) after
changing those inputs: python3 fuzz/seeds/make_seeds.py"""

import glob
import json
import os
import struct
import urllib.parse

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, "seed-" + name), "wb") as f:
        f.write(data)


def base(path):
    return os.path.splitext(os.path.basename(path))[0]


plans = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml"))) + [os.path.join(ROOT, "examples", "invalid", "broken-plan.yaml")]
for path in plans:
    text = read(path)
    write("plan_yaml", base(path), text)
    write("plan_json", base(path), json.dumps(yaml.safe_load(text), indent=1, default=str))

requests = sorted(glob.glob(os.path.join(ROOT, "events", "checklist-validator", "*.json")))
for path in requests:
    write("checklist", base(path), read(path))
for path in glob.glob(os.path.join(ROOT, "examples", "evidence", "*.yaml")) + glob.glob(os.path.join(ROOT, "examples", "scenarios", "*-evidence.yaml")):
    write("checklist", base(path), read(path))
write("plan_json", "request-plan", json.dumps(json.loads(read(requests[0]))["plan"], indent=1))

click = json.loads(read("events/approval-webhook/approve-click.json"))["body"]
write("slack_webhook", "approve-click", click)
payload = json.loads(urllib.parse.parse_qs(click)["payload"][0])
payload["actions"][0]["action_id"] = "rollgate_reject"
write("slack_webhook", "reject-click", urllib.parse.urlencode({"payload": json.dumps(payload)}))
value = payload["actions"][0]["value"]
submission = {
    "type": "view_submission",
    "user": {"id": "U0BOB", "username": "bob"},
    "view": {"callback_id": "rollgate_reject_reason", "private_metadata": value, "state": {"values": {"reason": {"reason": {"value": "error budget spent"}}}}},
}
write("slack_webhook", "reason-form", urllib.parse.urlencode({"payload": json.dumps(submission)}))
write("slack_webhook", "headers", "1763888400\nv0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503\npayload=%7B%7D")

for path in sorted(glob.glob(os.path.join(ROOT, "examples", "scenarios", "*.yaml"))):
    if not path.endswith("-evidence.yaml"):
        write("scenario", base(path), read(path))


def points(metric, side, values):
    out = b""
    for i, v in enumerate(values):
        back = (600 + 60 * (i + 1)) // 2  # one a minute, newest first (the encoding starts 10 minutes ahead)
        out += bytes([metric | (0x80 if side else 0)]) + struct.pack("<H", back) + struct.pack("<d", v)
    return out


recorded = json.loads(read("examples/scenarios/recorded/greenlang-incident-2025-11-14.json"))["MetricDataResults"]
canary = next(r for r in recorded if r["Id"] == "errorsCanary")["Values"][:20]
baseline = next(r for r in recorded if r["Id"] == "errorsBaseline")["Values"][:20]
# Plan 0 (greenlang-production-deploy): error_rate is metric 0, latency_p95 1, latency_p99 2.
write("judge", "incident", bytes([0, 1]) + points(0, False, canary) + points(0, True, baseline)
      + points(1, False, [285.0] * 15) + points(1, True, [280.0] * 15) + points(2, False, [610.0] * 15))
write("judge", "healthy-vision", bytes([1, 1]) + b"".join(points(m, s, [0.1 + m] * 12) for m in range(4) for s in (False, True)))
write("judge", "not-finite", bytes([3, 1]) + points(0, False, [0.2, float("nan"), 0.3, float("inf"), 0.1]) + points(0, True, [0.2, -float("inf"), 5e-324]))
write("judge", "all-equal", bytes([3, 0]) + points(0, False, [0.5] * 20))
write("judge", "huge", bytes([2, 1]) + points(0, False, [1.7976931348623157e308] * 13) + points(0, True, [-1.7976931348623157e308, 5e-324]))
write("judge", "empty", bytes([0, 0]))

RS = "\u001e"
write("text", "plain", "\u0040checkout-api" + RS + "production" + RS + "2.4.0" + RS + "2.3.9" + RS + "error rate 7% > 5%" + RS + "error_rate: 7% > 5%")
write("text", "japanese", "\u0010日本語のサービス" + RS + "本番" + RS + "バージョン2" + RS + RS + "エラー率が高い")
write("text", "emoji", "\u00ff🚀 launch 👩🏽‍💻" + RS + "prod\u2028uction" + RS + "e\u0301\u0302" + RS + "\u202eold" + RS + "line\nbreak\ttab\u0085" + RS + "🇩🇪" * 40)
write("text", "long", "\u0063" + "a-service-with-an-extraordinarily-long-name-" * 4 + RS + "env" + RS + "1" * 120)
