"""The loop closed: an email goes out, the ESP reports it opened, the journey branches on it.

Real parts: the worker sending over SMTP, the API on loopback receiving a SendGrid event
webhook signed with a key generated here, the Temporal dev server.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.testing import WorkflowEnvironment

from tests.live_stack import live_stack

TEMPLATES = Path(__file__).parent / "workflows" / "policy_templates"


async def test_an_open_reported_by_the_esp_moves_the_journey_on(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    async with live_stack(
        dev_server,
        tmp_path,
        journey_packages="tests.feedback_journeys",
        templates_dir=TEMPLATES,
        sendgrid_webhook_public_key=base64.b64encode(public).decode(),
    ) as stack:
        async with stack.http() as http:
            await http.put("/v1/customers/ann", json={"email": "ann@example.com"})
            await http.post("/v1/events", json={"id": "p1", "type": "promo.requested", "customer_id": "ann"})
            [promo] = await stack.wait_for_mail(1)
            ours = str(promo.message["X-Journeys-Message-Id"])

            events = [{"email": "ann@example.com", "timestamp": int(time.time()), "event": "open", "sg_event_id": "sg-open-1",
                       "sg_message_id": "x.filter", "journeys_message_id": ours}]
            body = json.dumps(events).encode()
            stamp = str(int(time.time()))
            signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
            async with httpx.AsyncClient() as sendgrid:
                answer = await sendgrid.post(
                    f"{stack.base_url}/v1/webhooks/sendgrid",
                    content=body,
                    headers={"X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp},
                )
            assert answer.status_code == 200 and answer.json()["stored"] == 1

            [_, follow_up] = await stack.wait_for_mail(2)
            assert follow_up.subject == "The receipt, ann"
            log = (await http.get("/v1/customers/ann/messages")).json()
            assert [h["status"] for h in log[0]["history"]][-1] == "email.opened"
